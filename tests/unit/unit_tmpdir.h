/* unit_tmpdir.h -- the scratch directory of a unit test: a fresh
 * directory under /tmp, and its removal with everything in it.
 *
 * Linked into every unit test (tests/CMakeLists.txt, shoal_unit_test).
 */
#ifndef SHOAL_UNIT_TMPDIR_H
#define SHOAL_UNIT_TMPDIR_H

#include <stddef.h>

/* Creates a fresh directory /tmp/shoal-test-<tag>-XXXXXX (mkdtemp, mode
 * 0700) and writes its path to dir (cap bytes).  Returns dir, or NULL
 * when it cannot (the path does not fit, or mkdtemp fails: errno). */
char *unit_tmpdir_make(char *dir, size_t cap, const char *tag);

/* rm -rf dir: depth first, links not followed; errors are ignored (a
 * test's clean-up).  dir NULL or "" does nothing. */
void unit_tmpdir_remove(const char *dir);

#endif
