// Fault injection for http_hostile_e2e_test: preloaded into the real binary
// (LD_PRELOAD), it makes accept()/accept4() fail with ENFILE once the file
// named by EDGEVISION_TEST_ACCEPT_FAULT exists, as when the system runs out
// of file descriptors. Otherwise it calls the real functions.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static int Failing(void) {
  const char* path = getenv("EDGEVISION_TEST_ACCEPT_FAULT");
  return path && access(path, F_OK) == 0;
}

int accept(int fd, struct sockaddr* addr, socklen_t* len) {
  static int (*real)(int, struct sockaddr*, socklen_t*);
  if (Failing()) {
    errno = ENFILE;
    return -1;
  }
  if (!real) real = (int (*)(int, struct sockaddr*, socklen_t*))dlsym(RTLD_NEXT, "accept");
  return real(fd, addr, len);
}

int accept4(int fd, struct sockaddr* addr, socklen_t* len, int flags) {
  static int (*real)(int, struct sockaddr*, socklen_t*, int);
  if (Failing()) {
    errno = ENFILE;
    return -1;
  }
  if (!real) real = (int (*)(int, struct sockaddr*, socklen_t*, int))dlsym(RTLD_NEXT, "accept4");
  return real(fd, addr, len, flags);
}
