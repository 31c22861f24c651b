/*
 * libstorlets-jni: the two things the Java daemon cannot do in pure Java.
 *
 * 1. Receive file descriptors (SCM_RIGHTS) with the bytes of a frame on a
 *    Unix socket: java.nio's Unix-domain channels carry bytes only.
 * 2. Wrap a received descriptor number in a java.io.FileDescriptor, so the
 *    JDK's own FileInputStream / FileOutputStream / FileChannel do all
 *    the I/O afterwards (the field is private; JNI may set it).
 *
 * Native methods of org.openstack.storlet.daemon.NativeFds; see that class.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jni.h>

#define MAX_FDS 64

static void throw_io(JNIEnv *env, const char *what, int err)
{
    char text[256];
    jclass cls = (*env)->FindClass(env, "java/io/IOException");
    if (cls == NULL)
        return;   /* an exception is pending already */
    snprintf(text, sizeof(text), "%s: %s", what, strerror(err));
    (*env)->ThrowNew(env, cls, text);
}

/*
 * int recv(int sock, byte[] buf, int off, int len, int[] fds)
 * Reads up to len bytes into buf[off..]; the descriptors that came with
 * them go to fds[1..], their count to fds[0]. Returns the byte count, 0 at
 * end of stream. Descriptors that do not fit are closed, and IOException
 * is thrown, as on any error.
 */
JNIEXPORT jint JNICALL
Java_org_openstack_storlet_daemon_NativeFds_recv(
    JNIEnv *env, jclass cls, jint sock, jbyteArray buf, jint off, jint len,
    jintArray fds_out)
{
    char data[65536];
    union {
        char space[CMSG_SPACE(sizeof(int) * MAX_FDS)];
        struct cmsghdr align;
    } control;
    struct iovec iov;
    struct msghdr msg;
    struct cmsghdr *cmsg;
    jint got[MAX_FDS + 1];
    jsize room = (*env)->GetArrayLength(env, fds_out) - 1;
    int count = 0, overflow = 0;
    ssize_t n;

    (void) cls;
    if (len > (jint) sizeof(data))
        len = sizeof(data);
    if (len < 0 || off < 0 || off + len > (*env)->GetArrayLength(env, buf)) {
        throw_io(env, "recv", EINVAL);
        return -1;
    }
    memset(&msg, 0, sizeof(msg));
    iov.iov_base = data;
    iov.iov_len = (size_t) len;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.space;
    msg.msg_controllen = sizeof(control.space);
    do {
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        throw_io(env, "recvmsg", errno);
        return -1;
    }
    for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL;
         cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        int i, k;
        if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
            continue;
        k = (int) ((cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
            if (count < room && count < MAX_FDS)
                got[1 + count++] = fd;
            else {
                close(fd);
                overflow = 1;
            }
        }
    }
    if (overflow || (msg.msg_flags & MSG_CTRUNC)) {
        int i;
        for (i = 1; i <= count; i++)
            close(got[i]);
        throw_io(env, "recvmsg: too many descriptors", EMSGSIZE);
        return -1;
    }
    got[0] = count;
    (*env)->SetByteArrayRegion(env, buf, off, (jsize) n, (jbyte *) data);
    (*env)->SetIntArrayRegion(env, fds_out, 0, count + 1, got);
    return (jint) n;
}

/* FileDescriptor descriptor(int fd): a java.io.FileDescriptor owning fd. */
JNIEXPORT jobject JNICALL
Java_org_openstack_storlet_daemon_NativeFds_descriptor(
    JNIEnv *env, jclass cls, jint fd)
{
    jclass fd_class = (*env)->FindClass(env, "java/io/FileDescriptor");
    jmethodID init;
    jfieldID field;
    jobject result;

    (void) cls;
    if (fd_class == NULL)
        return NULL;
    init = (*env)->GetMethodID(env, fd_class, "<init>", "()V");
    field = (*env)->GetFieldID(env, fd_class, "fd", "I");
    if (init == NULL || field == NULL)
        return NULL;
    result = (*env)->NewObject(env, fd_class, init);
    if (result != NULL)
        (*env)->SetIntField(env, result, field, fd);
    return result;
}

/* void close(int fd): for descriptors no Java object owns. */
JNIEXPORT void JNICALL
Java_org_openstack_storlet_daemon_NativeFds_close(
    JNIEnv *env, jclass cls, jint fd)
{
    (void) env;
    (void) cls;
    close(fd);
}
