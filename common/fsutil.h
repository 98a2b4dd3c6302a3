/* fsutil.h -- file-tree helpers for backups and restores: durable copies
 * (every file and directory fsynced), recursive removal, sizes.
 *
 * Copies never follow symbolic links and never overwrite: a destination
 * file that exists is an error (ALREADY_EXISTS), so a restore can never
 * clobber a live data directory by mistake.
 */
#ifndef SHOAL_FSUTIL_H
#define SHOAL_FSUTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "status.h"

/* Copies regular file src to dst (created with mode 0644, must not exist),
 * fsyncs it.  *bytes (may be NULL) += its size. */
shoal_code fsutil_copy_file(const char *src, const char *dst, uint64_t *bytes,
    shoal_status *st);

/* Copies the tree under src into dst (created if missing; files in it must
 * not exist), fsyncing every file and directory.  Entries whose name
 * contains skip_substr (NULL = none; e.g. ".tmp." for half-written
 * temporaries) are skipped, as is anything but regular files and
 * directories.  *bytes / *files (may be NULL) count what was copied. */
shoal_code fsutil_copy_tree(const char *src, const char *dst, const char *skip_substr,
    uint64_t *bytes, uint32_t *files, shoal_status *st);

/* rm -rf path (absent is OK).  Refuses "/" and "" (INVALID_ARGUMENT). */
shoal_code fsutil_remove_tree(const char *path, shoal_status *st);

/* Total bytes of the regular files under path (0 when absent). */
uint64_t fsutil_tree_bytes(const char *path);

/* fsync a directory (after creating or renaming entries in it). */
shoal_code fsutil_fsync_dir(const char *path, shoal_status *st);

/* True when path exists (any type). */
bool fsutil_exists(const char *path);

#endif
