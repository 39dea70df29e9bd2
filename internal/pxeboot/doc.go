// Package pxeboot holds an end-to-end test only: a real firmware PXE client (QEMU with
// SeaBIOS and the iPXE option ROM) boots pxelinux from the proxy's embedded DHCP and
// TFTP servers, with the reservation and the per-MAC config written through the REST
// API the way Foreman writes them.
package pxeboot
