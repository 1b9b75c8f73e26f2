/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Raw uAPI headers from a kernel source or headers package (not passed
 * through "make headers_install") still include <linux/compiler.h>, which
 * is not part of the uAPI.  Nothing in the vhost uAPI needs it, so this
 * empty stand-in is searched last (-idirafter) when UAPI_INC is raw.
 */
#ifndef KVIO_UAPI_SHIM_COMPILER_H
#define KVIO_UAPI_SHIM_COMPILER_H
#endif
