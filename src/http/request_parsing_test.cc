#include "http/request_parsing.h"

#include <gtest/gtest.h>

namespace edgevision::http {
namespace {

TEST(RequestParsingTest, RouteParamsRefuseControlCharactersAndLength) {
  HttpRequest req;
  req.params = {{"project", "my-project"}, {"publishedName", "Iteration 7"}};
  EXPECT_TRUE(CheckRouteParams(req).ok());
  req.params["project"] = std::string("a\0b", 3);
  EXPECT_EQ(CheckRouteParams(req).code(), StatusCode::kInvalidArgument);
  req.params["project"] = "line\nbreak";
  EXPECT_EQ(CheckRouteParams(req).code(), StatusCode::kInvalidArgument);
  req.params["project"] = std::string(kMaxParamLength + 1, 'p');
  EXPECT_NE(CheckRouteParams(req).message().find("project"), std::string::npos);
}

TEST(RequestParsingTest, ImageFromMultipartOrBody) {
  HttpRequest req;
  EXPECT_EQ(ImageBytes(req).status().code(), StatusCode::kInvalidArgument) << "empty body";
  req.body = "raw";
  ASSERT_TRUE(ImageBytes(req).ok());
  EXPECT_EQ(ImageBytes(req)->size(), 3u);
  req.form.emplace("file", FormPart{"a.jpg", "image/jpeg", "xx"});
  EXPECT_NE(ImageBytes(req).status().message().find("imageData"), std::string::npos);
  req.form.emplace("imageData", FormPart{"a.jpg", "image/jpeg", "jpeg!"});
  ASSERT_TRUE(ImageBytes(req).ok());
  EXPECT_EQ(ImageBytes(req)->size(), 5u);
}

TEST(RequestParsingTest, UrlBodies) {
  EXPECT_EQ(*ImageUrl(R"({"url":"http://cam/x.jpg"})"), "http://cam/x.jpg");
  EXPECT_EQ(*ImageUrl(R"({"Url":"http://cam/y.jpg"})"), "http://cam/y.jpg");
  EXPECT_EQ(*ImageUrl(R"({"URL":"http://cam/z.jpg"})"), "http://cam/z.jpg");
  for (const char* bad : {"", "{", "[]", "\"http://x\"", R"({"url": 42})", R"({"url": ""})", R"({"href":"http://x"})",
                          R"({"url": null})", "\xff\xfe"}) {
    EXPECT_EQ(ImageUrl(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(RequestParsingTest, LabelBodies) {
  EXPECT_EQ(**LabelFromBody(R"({"label":"Apple"})"), "Apple");
  EXPECT_FALSE(LabelFromBody(R"({"label":null})")->has_value());
  for (const char* bad : {"", "{}", R"({"label": 3})", R"({"label": ["a"]})", "null", "{\"label\":"}) {
    EXPECT_EQ(LabelFromBody(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace edgevision::http
