#include "http/router.h"

#include <gtest/gtest.h>

namespace edgevision::http {
namespace {

Handler Named(std::string name) {
  return [name](const HttpRequest&) {
    HttpResponse r;
    r.body = name;
    return r;
  };
}

std::string Dispatch(const Router& router, const std::string& method, const std::string& path,
                     HttpRequest* out = nullptr) {
  HttpRequest req;
  req.method = method;
  req.path = path;
  const Handler* h = nullptr;
  std::string allowed;
  switch (router.Match(&req, &h, &allowed)) {
    case Router::MatchResult::kNotFound: return "404";
    case Router::MatchResult::kMethodNotAllowed: return "405:" + allowed;
    case Router::MatchResult::kFound: break;
  }
  if (out) *out = req;
  return (*h)(req).body;
}

TEST(RouterTest, LiteralsParamsAndAlternatives) {
  Router r;
  r.Add("POST", "/image", Named("image"));
  r.Add("POST", "/{project}/image", Named("project-image"));
  r.Add("POST", "/{project}/{task:classify|detect}/iterations/{publishedName}/image", Named("iter"));
  HttpRequest req;
  EXPECT_EQ(Dispatch(r, "POST", "/image"), "image");
  EXPECT_EQ(Dispatch(r, "POST", "/image/"), "image");
  EXPECT_EQ(Dispatch(r, "POST", "/p1/image", &req), "project-image");
  EXPECT_EQ(req.Param("project"), "p1");
  EXPECT_EQ(Dispatch(r, "POST", "/p1/detect/iterations/Iter2/image", &req), "iter");
  EXPECT_EQ(req.Param("publishedName"), "Iter2");
  EXPECT_EQ(req.Param("task"), "detect");
  EXPECT_EQ(Dispatch(r, "POST", "/p1/segment/iterations/x/image"), "404");
  EXPECT_EQ(Dispatch(r, "POST", "/p1/image/extra"), "404");
  EXPECT_EQ(Dispatch(r, "POST", "/IMAGE"), "404");  // container routes are case-sensitive, like Flask
}

TEST(RouterTest, CaseInsensitiveRoutes) {
  Router r;
  r.Add("POST", "/customvision/{version:v3.0|v3.1}/prediction/{project}/image", Named("cloud"), true);
  HttpRequest req;
  EXPECT_EQ(Dispatch(r, "POST", "/customvision/v3.0/Prediction/abc/image", &req), "cloud");
  EXPECT_EQ(req.Param("project"), "abc");  // parameters keep their case
  EXPECT_EQ(Dispatch(r, "POST", "/CustomVision/V3.1/prediction/abc/Image"), "cloud");
  EXPECT_EQ(Dispatch(r, "POST", "/customvision/v2.0/prediction/abc/image"), "404");
}

TEST(RouterTest, WrongMethodIs405WithAllowList) {
  Router r;
  r.Add("POST", "/image", Named("image"));
  r.Add("GET", "/health", Named("health"));
  EXPECT_EQ(Dispatch(r, "GET", "/image"), "405:POST");
  EXPECT_EQ(Dispatch(r, "HEAD", "/health"), "health");
  EXPECT_EQ(Dispatch(r, "DELETE", "/nothing"), "404");
}

TEST(RouterTest, EarlierRoutesWin) {
  Router r;
  r.Add("GET", "/health/live", Named("live"));
  r.Add("GET", "/{a}/{b}", Named("generic"));
  EXPECT_EQ(Dispatch(r, "GET", "/health/live"), "live");
  EXPECT_EQ(Dispatch(r, "GET", "/x/y"), "generic");
}

}  // namespace
}  // namespace edgevision::http
