/*
 * throttlefs: a FUSE passthrough filesystem that stands in for a network file share in `autobuilder bench iops`.
 *
 *   throttlefs SOURCE OPS_PER_SECOND STATS_FILE MOUNTPOINT [fuse options, e.g. -f]
 *
 * Every request the kernel sends (lookup/getattr, open, read, write, readdir, create, release, ...) is one
 * "operation that reaches the volume": it is counted, and it waits for a token of ONE global token bucket
 * (OPS_PER_SECOND; 0 = unlimited; burst of 1/20 s), as a share's IOPS limit is global to the share. Attributes,
 * directory entries and negative lookups are cached by the kernel for 1 s (attr_timeout, entry_timeout,
 * negative_timeout), about what an SMB client's actimeo=1 does; file data is not kept across opens.
 *
 * The count is readable while mounted from MOUNTPOINT/.throttlefs-ops (not counted, not throttled, not listed) and
 * is written to STATS_FILE at unmount as "operations=N\nwaited_ns=N\n" plus one "op.NAME=N" line per kind.
 *
 * Built by the bench at run time: gcc -O2 -Wall throttlefs.c $(pkg-config --cflags --libs fuse3) (Debian libfuse3-dev).
 */
#define FUSE_USE_VERSION 35
#define _GNU_SOURCE

#include <fuse.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define STATS_NAME "/.throttlefs-ops"

enum op {
    OP_GETATTR, OP_ACCESS, OP_READLINK, OP_OPENDIR, OP_READDIR, OP_RELEASEDIR, OP_MKNOD, OP_MKDIR, OP_UNLINK, OP_RMDIR,
    OP_SYMLINK, OP_RENAME, OP_LINK, OP_CHMOD, OP_CHOWN, OP_TRUNCATE, OP_UTIMENS, OP_CREATE, OP_OPEN, OP_READ, OP_WRITE,
    OP_STATFS, OP_FLUSH, OP_RELEASE, OP_FSYNC, OP_FALLOCATE, OP_LSEEK, OP_COUNT
};

static const char *op_names[OP_COUNT] = {
    "getattr", "access", "readlink", "opendir", "readdir", "releasedir", "mknod", "mkdir", "unlink", "rmdir",
    "symlink", "rename", "link", "chmod", "chown", "truncate", "utimens", "create", "open", "read", "write",
    "statfs", "flush", "release", "fsync", "fallocate", "lseek",
};

static int source_fd = -1;
static const char *stats_file;
static double ops_per_second;
static atomic_uint_fast64_t operations;
static atomic_uint_fast64_t waited_ns;
static atomic_uint_fast64_t by_op[OP_COUNT];

/* The bucket as virtual scheduling: each operation takes the next slot 1/rate after the previous one, no earlier
 * than now - burst; it sleeps until its slot. One mutex for the whole share. */
static pthread_mutex_t bucket_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t next_slot_ns;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void take(enum op op)
{
    atomic_fetch_add(&operations, 1);
    atomic_fetch_add(&by_op[op], 1);
    if (ops_per_second <= 0)
        return;
    int64_t interval = (int64_t)(1e9 / ops_per_second);
    int64_t burst = (int64_t)(1e9 / 20);
    int64_t now = now_ns();
    pthread_mutex_lock(&bucket_lock);
    int64_t slot = next_slot_ns;
    if (slot < now - burst)
        slot = now - burst;
    slot += interval;
    next_slot_ns = slot;
    pthread_mutex_unlock(&bucket_lock);
    if (slot > now) {
        struct timespec ts = { .tv_sec = (slot - now) / 1000000000, .tv_nsec = (slot - now) % 1000000000 };
        while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
            ;
        atomic_fetch_add(&waited_ns, (uint64_t)(slot - now));
    }
}

/* "/a/b" -> "a/b", "/" -> "." : relative to the source folder's descriptor. */
static const char *rel(const char *path)
{
    while (*path == '/')
        path++;
    return *path ? path : ".";
}

static int is_stats(const char *path) { return strcmp(path, STATS_NAME) == 0; }

static void *tf_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
    (void)conn;
    cfg->use_ino = 1;
    cfg->attr_timeout = 1.0;
    cfg->entry_timeout = 1.0;
    cfg->negative_timeout = 1.0;
    cfg->kernel_cache = 0;
    cfg->hard_remove = 1;
    return NULL;
}

static void write_stats(void)
{
    if (!stats_file)
        return;
    FILE *f = fopen(stats_file, "w");
    if (!f)
        return;
    fprintf(f, "operations=%" PRIu64 "\nwaited_ns=%" PRIu64 "\n", (uint64_t)atomic_load(&operations), (uint64_t)atomic_load(&waited_ns));
    for (int i = 0; i < OP_COUNT; i++)
        if (atomic_load(&by_op[i]))
            fprintf(f, "op.%s=%" PRIu64 "\n", op_names[i], (uint64_t)atomic_load(&by_op[i]));
    fclose(f);
}

static void tf_destroy(void *private_data)
{
    (void)private_data;
    write_stats();
}

static int stats_text(char *buffer, size_t size)
{
    return snprintf(buffer, size, "%" PRIu64 "\n", (uint64_t)atomic_load(&operations));
}

static int tf_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
    if (is_stats(path)) {
        char text[32];
        memset(st, 0, sizeof *st);
        st->st_mode = S_IFREG | 0444;
        st->st_nlink = 1;
        st->st_size = stats_text(text, sizeof text);
        return 0;
    }
    take(OP_GETATTR);
    int r = fi ? fstat((int)fi->fh, st) : fstatat(source_fd, rel(path), st, AT_SYMLINK_NOFOLLOW);
    return r == -1 ? -errno : 0;
}

static int tf_access(const char *path, int mask)
{
    take(OP_ACCESS);
    return faccessat(source_fd, rel(path), mask, 0) == -1 ? -errno : 0;
}

static int tf_readlink(const char *path, char *buffer, size_t size)
{
    take(OP_READLINK);
    ssize_t n = readlinkat(source_fd, rel(path), buffer, size - 1);
    if (n == -1)
        return -errno;
    buffer[n] = '\0';
    return 0;
}

static int tf_opendir(const char *path, struct fuse_file_info *fi)
{
    take(OP_OPENDIR);
    int fd = openat(source_fd, rel(path), O_RDONLY | O_DIRECTORY);
    if (fd == -1)
        return -errno;
    DIR *dir = fdopendir(fd);
    if (!dir) {
        int e = errno;
        close(fd);
        return -e;
    }
    fi->fh = (uint64_t)(uintptr_t)dir;
    return 0;
}

static int tf_readdir(const char *path, void *buffer, fuse_fill_dir_t fill, off_t offset, struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
    (void)path; (void)offset; (void)flags;
    take(OP_READDIR);
    DIR *dir = (DIR *)(uintptr_t)fi->fh;
    rewinddir(dir);
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        struct stat st = { .st_ino = entry->d_ino, .st_mode = (mode_t)DTTOIF(entry->d_type) };
        if (fill(buffer, entry->d_name, &st, 0, 0))
            break;
    }
    return 0;
}

static int tf_releasedir(const char *path, struct fuse_file_info *fi)
{
    (void)path;
    take(OP_RELEASEDIR);
    closedir((DIR *)(uintptr_t)fi->fh);
    return 0;
}

static int tf_mknod(const char *path, mode_t mode, dev_t rdev)
{
    take(OP_MKNOD);
    return mknodat(source_fd, rel(path), mode, rdev) == -1 ? -errno : 0;
}

static int tf_mkdir(const char *path, mode_t mode)
{
    take(OP_MKDIR);
    return mkdirat(source_fd, rel(path), mode) == -1 ? -errno : 0;
}

static int tf_unlink(const char *path)
{
    take(OP_UNLINK);
    return unlinkat(source_fd, rel(path), 0) == -1 ? -errno : 0;
}

static int tf_rmdir(const char *path)
{
    take(OP_RMDIR);
    return unlinkat(source_fd, rel(path), AT_REMOVEDIR) == -1 ? -errno : 0;
}

static int tf_symlink(const char *target, const char *path)
{
    take(OP_SYMLINK);
    return symlinkat(target, source_fd, rel(path)) == -1 ? -errno : 0;
}

static int tf_rename(const char *from, const char *to, unsigned int flags)
{
    take(OP_RENAME);
    return renameat2(source_fd, rel(from), source_fd, rel(to), flags) == -1 ? -errno : 0;
}

static int tf_link(const char *from, const char *to)
{
    take(OP_LINK);
    return linkat(source_fd, rel(from), source_fd, rel(to), 0) == -1 ? -errno : 0;
}

static int tf_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    take(OP_CHMOD);
    int r = fi ? fchmod((int)fi->fh, mode) : fchmodat(source_fd, rel(path), mode, 0);
    return r == -1 ? -errno : 0;
}

static int tf_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
    take(OP_CHOWN);
    int r = fi ? fchown((int)fi->fh, uid, gid) : fchownat(source_fd, rel(path), uid, gid, AT_SYMLINK_NOFOLLOW);
    return r == -1 ? -errno : 0;
}

static int tf_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
    take(OP_TRUNCATE);
    if (fi)
        return ftruncate((int)fi->fh, size) == -1 ? -errno : 0;
    int fd = openat(source_fd, rel(path), O_WRONLY);
    if (fd == -1)
        return -errno;
    int r = ftruncate(fd, size) == -1 ? -errno : 0;
    close(fd);
    return r;
}

static int tf_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
    take(OP_UTIMENS);
    int r = fi ? futimens((int)fi->fh, tv) : utimensat(source_fd, rel(path), tv, AT_SYMLINK_NOFOLLOW);
    return r == -1 ? -errno : 0;
}

static int tf_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
    take(OP_CREATE);
    int fd = openat(source_fd, rel(path), fi->flags, mode);
    if (fd == -1)
        return -errno;
    fi->fh = (uint64_t)fd;
    return 0;
}

static int tf_open(const char *path, struct fuse_file_info *fi)
{
    if (is_stats(path)) {
        fi->fh = (uint64_t)-1;
        fi->direct_io = 1;
        return 0;
    }
    take(OP_OPEN);
    int fd = openat(source_fd, rel(path), fi->flags & ~O_NOFOLLOW);
    if (fd == -1)
        return -errno;
    fi->fh = (uint64_t)fd;
    return 0;
}

static int tf_read(const char *path, char *buffer, size_t size, off_t offset, struct fuse_file_info *fi)
{
    if (fi->fh == (uint64_t)-1 && is_stats(path)) {
        char text[32];
        int n = stats_text(text, sizeof text);
        if (offset >= n)
            return 0;
        size_t count = (size_t)(n - offset) < size ? (size_t)(n - offset) : size;
        memcpy(buffer, text + offset, count);
        return (int)count;
    }
    take(OP_READ);
    ssize_t n = pread((int)fi->fh, buffer, size, offset);
    return n == -1 ? -errno : (int)n;
}

static int tf_write(const char *path, const char *buffer, size_t size, off_t offset, struct fuse_file_info *fi)
{
    (void)path;
    take(OP_WRITE);
    ssize_t n = pwrite((int)fi->fh, buffer, size, offset);
    return n == -1 ? -errno : (int)n;
}

static int tf_statfs(const char *path, struct statvfs *st)
{
    (void)path;
    take(OP_STATFS);
    return fstatvfs(source_fd, st) == -1 ? -errno : 0;
}

static int tf_flush(const char *path, struct fuse_file_info *fi)
{
    if (fi->fh == (uint64_t)-1 && is_stats(path))
        return 0;
    take(OP_FLUSH);
    /* close(dup) as passthrough does: lets the backing filesystem see the close. */
    int r = close(dup((int)fi->fh));
    return r == -1 ? -errno : 0;
}

static int tf_release(const char *path, struct fuse_file_info *fi)
{
    if (fi->fh == (uint64_t)-1 && is_stats(path))
        return 0;
    take(OP_RELEASE);
    close((int)fi->fh);
    return 0;
}

static int tf_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
    (void)path;
    take(OP_FSYNC);
    int r = datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh);
    return r == -1 ? -errno : 0;
}

static int tf_fallocate(const char *path, int mode, off_t offset, off_t length, struct fuse_file_info *fi)
{
    (void)path;
    take(OP_FALLOCATE);
    return fallocate((int)fi->fh, mode, offset, length) == -1 ? -errno : 0;
}

static off_t tf_lseek(const char *path, off_t offset, int whence, struct fuse_file_info *fi)
{
    (void)path;
    take(OP_LSEEK);
    off_t r = lseek((int)fi->fh, offset, whence);
    return r == -1 ? -errno : r;
}

static const struct fuse_operations operations_table = {
    .init = tf_init,
    .destroy = tf_destroy,
    .getattr = tf_getattr,
    .access = tf_access,
    .readlink = tf_readlink,
    .opendir = tf_opendir,
    .readdir = tf_readdir,
    .releasedir = tf_releasedir,
    .mknod = tf_mknod,
    .mkdir = tf_mkdir,
    .unlink = tf_unlink,
    .rmdir = tf_rmdir,
    .symlink = tf_symlink,
    .rename = tf_rename,
    .link = tf_link,
    .chmod = tf_chmod,
    .chown = tf_chown,
    .truncate = tf_truncate,
    .utimens = tf_utimens,
    .create = tf_create,
    .open = tf_open,
    .read = tf_read,
    .write = tf_write,
    .statfs = tf_statfs,
    .flush = tf_flush,
    .release = tf_release,
    .fsync = tf_fsync,
    .fallocate = tf_fallocate,
    .lseek = tf_lseek,
};

int main(int argc, char *argv[])
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s SOURCE OPS_PER_SECOND STATS_FILE MOUNTPOINT [fuse options]\n", argv[0]);
        return 2;
    }
    source_fd = open(argv[1], O_RDONLY | O_DIRECTORY);
    if (source_fd == -1) {
        perror(argv[1]);
        return 2;
    }
    ops_per_second = strtod(argv[2], NULL);
    stats_file = strdup(argv[3]);
    /* argv for fuse_main: program, MOUNTPOINT, options... */
    argv[3] = argv[0];
    int result = fuse_main(argc - 3, argv + 3, &operations_table, NULL);
    return result;
}
