// The Custom Vision Training API v3.3 operations `edgevision export
// --upload` uses, as plain values (no JSON, no HTTP): the uploader talks to
// this interface; TrainingClient (training_client.h) speaks it over HTTPS,
// and tests may put any fake behind it.
//
// Contract (Azure/azure-rest-api-specs, CustomVision/Training/stable/v3.3):
//   GET  {endpoint}/customvision/v3.3/training/projects/{projectId}       GetProject
//   GET  .../domains/{domainId}                                          GetDomain
//   GET  .../projects/{projectId}/tags                                   GetTags
//   POST .../projects/{projectId}/tags?name=N                            CreateTag
//   POST .../projects/{projectId}/images/files   ImageFileCreateBatch    CreateImagesFromFiles
// every request with the header `Training-Key`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace edgevision::training {

// Limits the service sets (CreateImagesFromFiles: "Limited to 64 images and
// 20 tags per batch"; training images up to 6 MB, JPEG/PNG/BMP/GIF).
inline constexpr int kMaxImagesPerBatch = 64;
inline constexpr int kMaxTagsPerImage = 20;
inline constexpr uint64_t kMaxImageBytes = 6ull * 1024 * 1024;

struct Project {
  std::string id;
  std::string name;
  std::string domain_id;  // settings.domainId
};

struct Domain {
  std::string id;
  std::string type;  // "Classification" or "ObjectDetection"
};

struct Tag {
  std::string id;
  std::string name;
  std::string type;  // "Regular", "Negative", "GeneralProduct"
};

// A box normalised to the image (0..1), top-left origin.
struct Region {
  std::string tag_id;
  double left = 0, top = 0, width = 0, height = 0;
};

// One ImageFileCreateEntry.
struct ImageFile {
  std::string name;  // e.g. "<capture id>.jpg"; comes back as the result's sourceUrl
  std::vector<uint8_t> contents;
  std::vector<std::string> tag_ids;  // classification
  std::vector<Region> regions;       // object detection
};

// One ImageCreateResult: status is "OK", "OKDuplicate" or an Error* value.
struct ImageResult {
  std::string source_url;
  std::string status;
  std::string image_id;  // "" when the service created none
};

struct BatchResult {
  bool is_batch_successful = false;
  std::vector<ImageResult> images;
};

// Errors of every call: PermissionDenied (HTTP 401/403: the key was
// refused), NotFound (404: no such project, domain or route), InvalidArgument
// (another 4xx; the service's code and message), Unavailable (429, 5xx or no
// connection after the retries), Corrupt (an answer that is not the
// contract's JSON).
class TrainingApi {
 public:
  virtual ~TrainingApi() = default;
  virtual Result<Project> GetProject(const std::string& project_id) = 0;
  virtual Result<Domain> GetDomain(const std::string& domain_id) = 0;
  virtual Result<std::vector<Tag>> GetTags(const std::string& project_id) = 0;
  virtual Result<Tag> CreateTag(const std::string& project_id, const std::string& name) = 0;
  virtual Result<BatchResult> CreateImagesFromFiles(const std::string& project_id,
                                                    const std::vector<ImageFile>& images) = 0;
};

}  // namespace edgevision::training
