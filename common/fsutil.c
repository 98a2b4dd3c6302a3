/* fsutil.c -- see fsutil.h. */
#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

bool
fsutil_exists(const char *path)
{
	struct stat sb;
	return lstat(path, &sb) == 0;
}

shoal_code
fsutil_fsync_dir(const char *path, shoal_status *st)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return shoal_status_set(st, SHOAL_INTERNAL, "cannot open directory %s: %s", path,
		    strerror(errno));
	int rc = fsync(fd);
	int e = errno;
	close(fd);
	if (rc != 0)
		return shoal_status_set(st, SHOAL_INTERNAL, "cannot sync directory %s: %s", path,
		    strerror(e));
	return SHOAL_OK;
}

shoal_code
fsutil_copy_file(const char *src, const char *dst, uint64_t *bytes, shoal_status *st)
{
	char buf[1 << 16];
	int in, out;
	uint64_t n = 0;

	if ((in = open(src, O_RDONLY | O_NOFOLLOW)) < 0)
		return shoal_status_set(st, errno == ENOENT ? SHOAL_NOT_FOUND : SHOAL_INTERNAL,
		    "cannot open %s: %s", src, strerror(errno));
	if ((out = open(dst, O_WRONLY | O_CREAT | O_EXCL, 0644)) < 0) {
		int e = errno;
		close(in);
		return shoal_status_set(st, e == EEXIST ? SHOAL_ALREADY_EXISTS : SHOAL_INTERNAL,
		    "cannot create %s: %s", dst, strerror(e));
	}
	for (;;) {
		ssize_t got = read(in, buf, sizeof buf);
		if (got == 0)
			break;
		if (got < 0) {
			if (errno == EINTR)
				continue;
			shoal_status_set(st, SHOAL_INTERNAL, "cannot read %s: %s", src, strerror(errno));
			goto fail;
		}
		for (ssize_t off = 0; off < got;) {
			ssize_t w = write(out, buf + off, (size_t)(got - off));
			if (w < 0) {
				if (errno == EINTR)
					continue;
				shoal_status_set(st, SHOAL_INTERNAL, "cannot write %s: %s", dst,
				    strerror(errno));
				goto fail;
			}
			off += w;
		}
		n += (uint64_t)got;
	}
	if (fsync(out) != 0) {
		shoal_status_set(st, SHOAL_INTERNAL, "cannot sync %s: %s", dst, strerror(errno));
		goto fail;
	}
	close(in);
	if (close(out) != 0)
		return shoal_status_set(st, SHOAL_INTERNAL, "cannot close %s: %s", dst, strerror(errno));
	if (bytes != NULL)
		*bytes += n;
	return SHOAL_OK;
fail:
	close(in);
	close(out);
	unlink(dst);
	return st ? st->code : SHOAL_INTERNAL;
}

shoal_code
fsutil_copy_tree(const char *src, const char *dst, const char *skip, uint64_t *bytes,
    uint32_t *files, shoal_status *st)
{
	DIR *d;
	struct dirent *e;
	shoal_code rv = SHOAL_OK;

	if ((rv = util_mkdir_p(dst, st)) != SHOAL_OK)
		return rv;
	if ((d = opendir(src)) == NULL)
		return shoal_status_set(st, errno == ENOENT ? SHOAL_NOT_FOUND : SHOAL_INTERNAL,
		    "cannot read directory %s: %s", src, strerror(errno));
	while (rv == SHOAL_OK && (e = readdir(d)) != NULL) {
		char s[4096], t[4096];
		struct stat sb;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (skip != NULL && strstr(e->d_name, skip) != NULL)
			continue;
		if (snprintf(s, sizeof s, "%s/%s", src, e->d_name) >= (int)sizeof s ||
		    snprintf(t, sizeof t, "%s/%s", dst, e->d_name) >= (int)sizeof t) {
			rv = shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "path too long under %s", src);
			break;
		}
		if (lstat(s, &sb) != 0) {
			if (errno == ENOENT)
				continue; /* removed meanwhile (a temporary renamed away) */
			rv = shoal_status_set(st, SHOAL_INTERNAL, "cannot stat %s: %s", s, strerror(errno));
			break;
		}
		if (S_ISDIR(sb.st_mode)) {
			rv = fsutil_copy_tree(s, t, skip, bytes, files, st);
		} else if (S_ISREG(sb.st_mode)) {
			rv = fsutil_copy_file(s, t, bytes, st);
			if (rv == SHOAL_NOT_FOUND) /* replaced by a rename meanwhile */
				rv = SHOAL_OK;
			else if (rv == SHOAL_OK && files != NULL)
				(*files)++;
		}
	}
	closedir(d);
	if (rv == SHOAL_OK)
		rv = fsutil_fsync_dir(dst, st);
	return rv;
}

shoal_code
fsutil_remove_tree(const char *path, shoal_status *st)
{
	struct stat sb;
	DIR *d;
	struct dirent *e;

	if (path == NULL || path[0] == '\0' || strcmp(path, "/") == 0)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "refusing to remove '%s'",
		    path ? path : "");
	if (lstat(path, &sb) != 0)
		return errno == ENOENT ? SHOAL_OK
		                       : shoal_status_set(st, SHOAL_INTERNAL, "cannot stat %s: %s",
		                             path, strerror(errno));
	if (!S_ISDIR(sb.st_mode)) {
		if (unlink(path) != 0 && errno != ENOENT)
			return shoal_status_set(st, SHOAL_INTERNAL, "cannot remove %s: %s", path,
			    strerror(errno));
		return SHOAL_OK;
	}
	if ((d = opendir(path)) == NULL)
		return shoal_status_set(st, SHOAL_INTERNAL, "cannot read directory %s: %s", path,
		    strerror(errno));
	while ((e = readdir(d)) != NULL) {
		char p[4096];
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (snprintf(p, sizeof p, "%s/%s", path, e->d_name) >= (int)sizeof p)
			continue;
		shoal_code rv = fsutil_remove_tree(p, st);
		if (rv != SHOAL_OK) {
			closedir(d);
			return rv;
		}
	}
	closedir(d);
	if (rmdir(path) != 0 && errno != ENOENT)
		return shoal_status_set(st, SHOAL_INTERNAL, "cannot remove %s: %s", path,
		    strerror(errno));
	return SHOAL_OK;
}

uint64_t
fsutil_tree_bytes(const char *path)
{
	struct stat sb;
	uint64_t n = 0;
	DIR *d;
	struct dirent *e;

	if (lstat(path, &sb) != 0)
		return 0;
	if (S_ISREG(sb.st_mode))
		return (uint64_t)sb.st_size;
	if (!S_ISDIR(sb.st_mode) || (d = opendir(path)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		char p[4096];
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (snprintf(p, sizeof p, "%s/%s", path, e->d_name) < (int)sizeof p)
			n += fsutil_tree_bytes(p);
	}
	closedir(d);
	return n;
}
