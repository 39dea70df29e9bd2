// Package pxeboot boots real firmware under QEMU from a smart proxy inside a network
// namespace. The package holds the shared recipes (NewNetns, StartRouterAdvertiser,
// InNS/DialIn/Command, RequireQEMU, Boot, BootBIOS, the stand-in installer templates),
// also used by the VM tests of internal/e2e and internal/zones, and its tests: real firmware (QEMU with SeaBIOS and the iPXE option ROM, or
// OVMF) boots from the proxy's embedded DHCP, TFTP and httpboot servers, with the
// reservation and the per-MAC config written through the REST API the way Foreman
// writes them:
//   - BIOS: pxelinux over TFTP reading pxelinux.cfg/01-<mac>;
//   - BIOS: the iPXE ROM chaining pxelinux.cfg/01-<mac>.ipxe over TFTP;
//   - BIOS: the iPXE ROM fetching /unattended/iPXE, relayed by templates to Foreman;
//   - UEFI PXE: GRUB over TFTP finding grub2/grub.cfg-01-<mac>;
//   - UEFI PXE: iPXE over TFTP, then its script over HTTP;
//   - UEFI HTTP Boot: iPXE and its script over HTTP, no TFTP at all.
package pxeboot
