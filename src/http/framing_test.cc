#include "http/framing.h"

#include <gtest/gtest.h>

namespace edgevision::http::framing {
namespace {

HeadResult Parse(const std::string& head) {
  size_t line_start = 0;
  const HeadEnd end = FindHeadEnd(head, 64 * 1024, &line_start);
  EXPECT_EQ(end.size, head.size()) << head;
  return ParseHead(head);
}

int StatusOf(const std::string& head) {
  const HeadResult r = Parse(head);
  return r.head ? 0 : r.error.status;
}

TEST(FramingTest, AcceptsWellFramedHeads) {
  const HeadResult r = Parse("POST /a/b?x=1 HTTP/1.1\r\nHost: edge\r\nContent-Length: 12\r\nX-Tab:\tv \r\n\r\n");
  ASSERT_TRUE(r.head) << r.error.message;
  EXPECT_EQ(r.head->method, "POST");
  EXPECT_EQ(r.head->target, "/a/b?x=1");
  EXPECT_EQ(r.head->body, Head::Body::kLength);
  EXPECT_EQ(r.head->content_length, 12u);
  EXPECT_EQ(r.head->Find("x-tab").value_or(""), "v");
  const HeadResult c = Parse("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n");
  ASSERT_TRUE(c.head);
  EXPECT_EQ(c.head->body, Head::Body::kChunked);
  EXPECT_TRUE(c.head->HasBody());
  EXPECT_EQ(Parse("GET / HTTP/1.0\r\n\r\n").head->body, Head::Body::kNone);
}

TEST(FramingTest, RefusesAmbiguousOrLenientFraming) {
  EXPECT_EQ(StatusOf("POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
  EXPECT_EQ(StatusOf("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"), 400);
  EXPECT_EQ(StatusOf("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
  EXPECT_EQ(StatusOf("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501);
  EXPECT_EQ(StatusOf("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
  EXPECT_EQ(StatusOf("POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n"), 400);
  EXPECT_EQ(StatusOf("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n"), 400);
  EXPECT_EQ(StatusOf("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n"), 400);
  EXPECT_EQ(StatusOf("POST / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n"), 400);        // bare LF
  EXPECT_EQ(StatusOf("POST / HTTP/1.1\r\nHost: a\r\n X: b\r\n\r\n"), 400);     // obs-fold
  EXPECT_EQ(StatusOf("POST / HTTP/1.1\r\nHost : a\r\n\r\n"), 400);            // space before ':'
  EXPECT_EQ(StatusOf("POST / HTTP/1.1\r\nHost: a\x01\r\n\r\n"), 400);         // control character
  EXPECT_EQ(StatusOf("POST  / HTTP/1.1\r\n\r\n"), 400);                       // two spaces
  EXPECT_EQ(StatusOf("POST http://x/ HTTP/1.1\r\n\r\n"), 400);                // absolute-form
  EXPECT_EQ(StatusOf("POST / HTTP/2.0\r\n\r\n"), 400);
  EXPECT_EQ(StatusOf("PO(ST / HTTP/1.1\r\n\r\n"), 400);
}

TEST(FramingTest, LineAndHeadLimits) {
  size_t at = 0;
  EXPECT_EQ(FindHeadEnd("GET /" + std::string(9000, 'a'), 64 * 1024, &at).error->status, 414);
  at = 0;
  EXPECT_EQ(FindHeadEnd("GET / HTTP/1.1\r\nX: " + std::string(9000, 'a'), 64 * 1024, &at).error->status, 400);
  std::string many = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 80; ++i) many += "X-" + std::to_string(i) + ": " + std::string(1000, 'v') + "\r\n";
  at = 0;
  EXPECT_EQ(FindHeadEnd(many, 64 * 1024, &at).error->status, 431);
  std::string fields = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 101; ++i) fields += "X: 1\r\n";
  EXPECT_EQ(StatusOf(fields + "\r\n"), 431);
  // Incremental: the scan resumes where it stopped.
  at = 0;
  const std::string head = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  EXPECT_EQ(FindHeadEnd(head.substr(0, 20), 1024, &at).size, 0u);
  EXPECT_EQ(FindHeadEnd(head, 1024, &at).size, head.size());
}

TEST(FramingTest, RebuiltHeadsDropRangeAndMakeFramingExplicit) {
  const HeadResult r = Parse(
      "POST /image HTTP/1.1\r\nHost: a\r\nRange: bytes=0-1,2-3\r\nIf-Range: x\r\n"
      "Content-Type: multipart/form-data; boundary=b\r\n\r\n");
  ASSERT_TRUE(r.head);
  const std::string rebuilt = RebuildHead(*r.head);
  EXPECT_EQ(rebuilt.find("Range"), std::string::npos) << rebuilt;
  EXPECT_EQ(rebuilt.find("multipart"), std::string::npos) << rebuilt;
  EXPECT_NE(rebuilt.find("Content-Length: 0\r\n"), std::string::npos) << rebuilt;
}

std::string Feed(ChunkedFramer& f, const std::string& bytes, int* status = nullptr) {
  const ChunkedFramer::Fed fed = f.Feed(bytes);
  if (status) *status = fed.error ? fed.error->status : 0;
  return bytes.substr(0, fed.used);
}

TEST(FramingTest, ChunkedBodiesAreStrictAndBounded) {
  ChunkedFramer ok(100);
  EXPECT_EQ(Feed(ok, "4;a=b\r\nabcd\r\n0\r\n\r\nGET / HTTP/1.1"), "4;a=b\r\nabcd\r\n0\r\n\r\n");
  EXPECT_TRUE(ok.done());
  EXPECT_EQ(ok.body_bytes(), 4u);
  for (const char* bad : {"0x4\r\nabcd\r\n", " 4\r\nabcd\r\n", "+4\r\nabcd\r\n", "4\nabcd\r\n", "4\r\nabcdX", "\r\n",
                          "g\r\n", "4 x\r\n", "4 \r\n", "4\t\r\n", "0\r\nX-Trailer: 1\r\n\r\n", "0\r\n\n"}) {
    ChunkedFramer f(100);
    int status = 0;
    Feed(f, bad, &status);
    EXPECT_EQ(status, 400) << bad;
  }
  ChunkedFramer big(100);
  int status = 0;
  Feed(big, "65\r\n", &status);
  EXPECT_EQ(status, 413);
  ChunkedFramer longline(100);
  Feed(longline, "1;" + std::string(kMaxChunkLineBytes, 'e'), &status);
  EXPECT_EQ(status, 400);
  // Byte by byte gives the same answer.
  ChunkedFramer slow(100);
  const std::string body = "3\r\nxyz\r\n0\r\n\r\n";
  for (char c : body) EXPECT_EQ(slow.Feed(std::string_view(&c, 1)).used, 1u);
  EXPECT_TRUE(slow.done());
}

TEST(FramingTest, MultipartPartsAreCappedAndCharged) {
  EXPECT_EQ(MultipartBoundary("multipart/form-data; boundary=\"a b\""), "a b");
  EXPECT_EQ(MultipartBoundary("Multipart/Form-Data;boundary=x"), "x");
  EXPECT_EQ(MultipartBoundary("multipart/form-data"), "");
  EXPECT_FALSE(MultipartBoundary("application/json").has_value());
  const std::string part = "--b\r\nContent-Disposition: form-data; name=\"imageData\"; filename=\"x;y.jpg\"\r\n"
                           "Content-Type: image/jpeg\r\n\r\nJPEG\r\n";
  FormResult one = ParseMultipart("preamble\r\n" + part + "--b--\r\n", "b", 1 << 20);
  ASSERT_FALSE(one.error) << one.error->message;
  ASSERT_EQ(one.parts.size(), 1u);
  EXPECT_EQ(one.parts.begin()->first, "imageData");
  EXPECT_EQ(one.parts.begin()->second.content, "JPEG");
  EXPECT_EQ(one.parts.begin()->second.filename, "x;y.jpg");
  EXPECT_EQ(one.parts.begin()->second.content_type, "image/jpeg");
  std::string empty;
  for (size_t i = 0; i <= kMaxFormParts; ++i) empty += "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\r\n";
  EXPECT_EQ(ParseMultipart(empty + "--b--\r\n", "b", 1 << 20).error->status, 400);
  EXPECT_EQ(ParseMultipart(part + "--b--\r\n", "b", kPartOverheadBytes).error->status, 413);
  EXPECT_TRUE(ParseMultipart(part, "b", 1 << 20).error);                    // never closed
  EXPECT_TRUE(ParseMultipart("--c\r\n\r\nx\r\n--c--", "b", 1 << 20).error);  // boundary never appears
  EXPECT_TRUE(ParseMultipart("--b\r\nX: " + std::string(kMaxPartHeaderBytes, 'h') + "\r\n\r\nx\r\n--b--", "b", 1 << 20)
                  .error);
  EXPECT_TRUE(ParseMultipart("--b\r\nContent-Type: a\r\n\r\nx\r\n--b--", "b", 1 << 20).error);  // no name
}

TEST(FramingTest, LogSafeEscapesControlsAndCuts) {
  EXPECT_EQ(LogSafe("/a\nb\x1b[31m\"\xff"), "/a\\x0ab\\x1b[31m\\x22\\xff");
  EXPECT_EQ(LogSafe(std::string(10, 'a'), 4), "aaaa...");
}

}  // namespace
}  // namespace edgevision::http::framing
