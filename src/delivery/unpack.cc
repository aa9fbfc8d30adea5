#include "delivery/unpack.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <set>
#include <vector>

#include "core/durable_files.h"
#include "core/zip_handles.h"

namespace edgevision::delivery {

namespace {

struct Member {
  zip_uint64_t index = 0;
  std::string name;
  uint64_t size = 0;
  bool folder = false;
};

// The unix file type a member declares, 0 when it declares none.
mode_t UnixType(zip_t* z, zip_uint64_t i) {
  zip_uint8_t opsys = 0;
  zip_uint32_t attributes = 0;
  if (zip_file_get_external_attributes(z, i, 0, &opsys, &attributes) != 0) return 0;
  if (opsys != ZIP_OPSYS_UNIX) return 0;
  return static_cast<mode_t>((attributes >> 16) & S_IFMT);
}

Result<std::vector<Member>> CheckMembers(zip_t* z, const std::string& label, const DeliveryLimits& limits) {
  const zip_int64_t n = zip_get_num_entries(z, 0);
  if (n < 0) return Corrupt(label + ": cannot read the member list");
  if (static_cast<uint64_t>(n) > limits.max_zip_entries) {
    return ResourceExhausted(label + ": " + std::to_string(n) + " members, more than the limit of " +
                             std::to_string(limits.max_zip_entries));
  }
  std::vector<Member> members;
  uint64_t total = 0;
  for (zip_int64_t i = 0; i < n; ++i) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(z, static_cast<zip_uint64_t>(i), ZIP_FL_ENC_RAW, &st) != 0 || !(st.valid & ZIP_STAT_NAME) ||
        !(st.valid & ZIP_STAT_SIZE) || !(st.valid & ZIP_STAT_COMP_SIZE)) {
      return Corrupt(label + ": member " + std::to_string(i) + " cannot be read");
    }
    Member m;
    m.index = static_cast<zip_uint64_t>(i);
    m.name = st.name;
    m.size = st.size;
    m.folder = !m.name.empty() && m.name.back() == '/';
    const std::string shown = label + ": member '" + m.name + "'";
    EV_RETURN_IF_ERROR(CheckMemberName(m.folder ? m.name.substr(0, m.name.size() - 1) : m.name, limits)
                           .WithContext(shown));
    const mode_t type = UnixType(z, m.index);
    if (type == S_IFLNK) return InvalidArgument(shown + " is a symbolic link (refused)");
    if (type != 0 && type != S_IFREG && type != S_IFDIR) return InvalidArgument(shown + " is not a regular file or folder");
    if (m.folder && m.size != 0) return Corrupt(shown + " is a folder with content");
    if (m.size > limits.ratio_exempt_bytes && m.size / std::max<uint64_t>(st.comp_size, 1) > limits.max_compression_ratio) {
      return ResourceExhausted(shown + " expands " + std::to_string(m.size / std::max<uint64_t>(st.comp_size, 1)) +
                               "-fold, more than the limit of " + std::to_string(limits.max_compression_ratio));
    }
    total += m.size;
    if (total > limits.max_unpacked_bytes) {
      return ResourceExhausted(label + ": more than " + std::to_string(limits.max_unpacked_bytes) +
                               " bytes uncompressed (the limit)");
    }
    members.push_back(std::move(m));
  }
  return members;
}

Status MakeFolder(const std::string& path, std::set<std::string>* folders) {
  if (folders->count(path)) return Status::Ok();
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return IOError("cannot create " + path + ": " + std::strerror(errno));
  }
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return InvalidArgument(path + " is not a folder");
  folders->insert(path);
  return Status::Ok();
}

// Creates the folders of `relative` (a checked name) under `dest`.
Status MakeParents(const std::string& dest, const std::string& relative, std::set<std::string>* folders) {
  for (size_t slash = relative.find('/'); slash != std::string::npos; slash = relative.find('/', slash + 1)) {
    EV_RETURN_IF_ERROR(MakeFolder(dest + "/" + relative.substr(0, slash), folders));
  }
  return Status::Ok();
}

Status Extract(zip_t* z, const Member& m, const std::string& path, const std::string& label) {
  ZipFilePtr in(zip_fopen_index(z, m.index, 0));
  if (!in) return Corrupt(label + ": member '" + m.name + "': " + zip_strerror(z));
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return IOError("cannot create " + path + ": " + std::strerror(errno) + " (a duplicate member name?)");
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  std::vector<char> buf(1 << 16);
  uint64_t written = 0;
  for (;;) {
    const zip_int64_t n = zip_fread(in.get(), buf.data(), buf.size());
    if (n < 0) return Corrupt(label + ": member '" + m.name + "': " + zip_file_strerror(in.get()));
    if (n == 0) break;
    written += static_cast<uint64_t>(n);
    if (written > m.size) return Corrupt(label + ": member '" + m.name + "' is longer than it declares");
    for (zip_int64_t done = 0; done < n;) {
      const ssize_t w = ::write(fd, buf.data() + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return IOError("cannot write " + path + ": " + std::strerror(w < 0 ? errno : EIO));
      done += w;
    }
  }
  if (written != m.size) return Corrupt(label + ": member '" + m.name + "' is shorter than it declares");
  if (::fsync(fd) != 0) return IOError("cannot fsync " + path + ": " + std::strerror(errno));
  return Status::Ok();
}

}  // namespace

bool LooksLikeZip(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  unsigned char magic[4] = {};
  const ssize_t n = ::read(fd, magic, 4);
  ::close(fd);
  return n == 4 && magic[0] == 'P' && magic[1] == 'K' &&
         ((magic[2] == 3 && magic[3] == 4) || (magic[2] == 5 && magic[3] == 6));
}

Status CheckMemberName(std::string_view name, const DeliveryLimits& limits) {
  if (name.empty()) return InvalidArgument("an empty name");
  if (name.size() > static_cast<size_t>(limits.max_name_length)) return InvalidArgument("a name longer than the limit");
  if (name.front() == '/') return InvalidArgument("an absolute path (refused)");
  int depth = 0;
  size_t start = 0;
  for (;;) {
    const size_t slash = name.find('/', start);
    const std::string_view part = name.substr(start, slash == std::string_view::npos ? name.npos : slash - start);
    if (part.empty() || part == "." || part == "..") {
      return InvalidArgument("a path with an empty, '.' or '..' part (path traversal, refused)");
    }
    for (char c : part) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '\\') {
        return InvalidArgument("a name with a control character or backslash (refused)");
      }
    }
    if (slash == std::string_view::npos) break;
    if (++depth > limits.max_depth) return InvalidArgument("a path deeper than the limit");
    start = slash + 1;
  }
  if (name.size() >= 2 && name[1] == ':') return InvalidArgument("a drive-letter path (refused)");
  return Status::Ok();
}

Result<UnpackStats> UnpackZip(const std::string& zip_path, const std::string& dest, const DeliveryLimits& limits) {
  int err = 0;
  ZipPtr zip(zip_open(zip_path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &err));
  if (!zip) {
    zip_error_t error;
    zip_error_init_with_code(&error, err);
    Status s = Corrupt("the download is not a readable zip archive (" + std::string(zip_error_strerror(&error)) + ")");
    zip_error_fini(&error);
    return s;
  }
  const std::string label = "the delivered zip";
  EV_ASSIGN_OR_RETURN(std::vector<Member> members, CheckMembers(zip.get(), label, limits));
  if (::mkdir(dest.c_str(), 0700) != 0) return IOError("cannot create " + dest + ": " + std::strerror(errno));
  std::set<std::string> folders = {dest};
  UnpackStats stats;
  for (const Member& m : members) {
    const std::string relative = m.folder ? m.name.substr(0, m.name.size() - 1) : m.name;
    EV_RETURN_IF_ERROR(MakeParents(dest, relative, &folders));
    if (m.folder) {
      EV_RETURN_IF_ERROR(MakeFolder(dest + "/" + relative, &folders));
      continue;
    }
    EV_RETURN_IF_ERROR(Extract(zip.get(), m, dest + "/" + relative, label));
    ++stats.files;
    stats.bytes += m.size;
  }
  for (const std::string& folder : folders) EV_RETURN_IF_ERROR(SyncPath(folder));
  return stats;
}

}  // namespace edgevision::delivery
