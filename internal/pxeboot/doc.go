// Package pxeboot holds end-to-end tests only: real firmware (QEMU with SeaBIOS and the
// iPXE option ROM, or OVMF) boots from the proxy's embedded DHCP, TFTP and httpboot
// servers: pxelinux over TFTP (BIOS), iPXE chaining its per-MAC .ipxe script over
// TFTP (BIOS), GRUB over TFTP finding its per-MAC grub.cfg
// (UEFI PXE), iPXE over TFTP then HTTP (UEFI PXE), and iPXE over UEFI HTTP Boot with no
// TFTP at all, with the reservation and the per-MAC config written through the REST API
// the way Foreman writes them.
package pxeboot
