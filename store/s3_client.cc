#include "store/s3_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "base/sha256.h"

namespace isopool::store {
namespace {

using ::isopool::base::Sha256Hex;

const char kEmptySha256[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// curl_global_init is not thread-safe; run it once before the first client exists.
void GlobalInitOnce() {
  static const bool done = [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return true;
  }();
  (void)done;
}

size_t WriteToString(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<std::pair<std::string*, uint64_t>*>(user);
  size_t n = size * count;
  if (sink->first->size() + n > sink->second) return 0;  // aborts the transfer
  sink->first->append(data, n);
  return n;
}

struct ReadSource {
  absl::string_view data;
  size_t offset = 0;
};

size_t ReadFromView(char* buffer, size_t size, size_t count, void* user) {
  auto* source = static_cast<ReadSource*>(user);
  size_t n = std::min(size * count, source->data.size() - source->offset);
  std::copy_n(source->data.data() + source->offset, n, buffer);
  source->offset += n;
  return n;
}

// curl calls this to rewind the body when it must resend it (e.g. after a 100-continue
// refusal or a redirect).
int SeekView(void* user, curl_off_t offset, int origin) {
  auto* source = static_cast<ReadSource*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<size_t>(offset) > source->data.size()) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  source->offset = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

// The text between <tag> and </tag> after `from`; npos-style empty when missing.
absl::string_view XmlElement(absl::string_view xml, absl::string_view tag, size_t* from) {
  std::string open = absl::StrCat("<", tag, ">");
  std::string close = absl::StrCat("</", tag, ">");
  size_t start = xml.find(open, *from);
  if (start == absl::string_view::npos) return {};
  start += open.size();
  size_t end = xml.find(close, start);
  if (end == absl::string_view::npos) return {};
  *from = end + close.size();
  return xml.substr(start, end - start);
}

std::string XmlUnescape(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out.push_back(s[i]);
      continue;
    }
    static const std::pair<const char*, char> kEntities[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    bool matched = false;
    for (const auto& [entity, c] : kEntities) {
      if (absl::StartsWith(s.substr(i), entity)) {
        out.push_back(c);
        i += strlen(entity) - 1;
        matched = true;
        break;
      }
    }
    if (!matched) out.push_back('&');
  }
  return out;
}

}  // namespace

std::string UriEncode(absl::string_view s, bool keep_slash) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

struct S3Client::Request {
  const char* op = "";
  const char* method = "GET";
  std::string path;   // already encoded, starting with '/'
  std::string query;  // canonical: sorted, encoded, without '?'
  absl::string_view body;
  bool has_body = false;
  std::vector<std::string> headers;
  uint64_t max_response_bytes = uint64_t{1} << 24;
  bool head = false;
};

struct S3Client::Response {
  long status = 0;
  std::string body;
};

S3Client::S3Client(S3ClientOptions options)
    : options_(std::move(options)),
      describe_(absl::StrCat("object store ", options_.endpoint, "/", options_.bucket)),
      sigv4_(absl::StrCat("aws:amz:", options_.region, ":s3")),
      userpwd_(absl::StrCat(options_.access_key, ":", options_.secret_key)) {}

S3Client::~S3Client() {
  base::MutexLock lock(&mu_);
  for (void* handle : idle_) curl_easy_cleanup(static_cast<CURL*>(handle));
}

absl::StatusOr<std::unique_ptr<S3Client>> S3Client::Create(S3ClientOptions options) {
  while (!options.endpoint.empty() && options.endpoint.back() == '/') options.endpoint.pop_back();
  if (!absl::StartsWith(options.endpoint, "http://") &&
      !absl::StartsWith(options.endpoint, "https://")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "S3 endpoint must start with http:// or https://, not \"", options.endpoint, "\""));
  }
  if (options.bucket.empty()) return absl::InvalidArgumentError("S3 bucket is empty");
  if (options.access_key.empty() || options.secret_key.empty()) {
    return absl::InvalidArgumentError("S3 access key or secret key is empty");
  }
  if (options.max_attempts < 1) options.max_attempts = 1;
  GlobalInitOnce();
  return std::unique_ptr<S3Client>(new S3Client(std::move(options)));
}

void* S3Client::Borrow() {
  {
    base::MutexLock lock(&mu_);
    if (!idle_.empty()) {
      void* handle = idle_.back();
      idle_.pop_back();
      return handle;
    }
  }
  return curl_easy_init();
}

void S3Client::Return(void* handle) {
  curl_easy_reset(static_cast<CURL*>(handle));  // keeps the connection cache
  base::MutexLock lock(&mu_);
  idle_.push_back(handle);
}

absl::StatusOr<S3Client::Response> S3Client::Perform(const Request& request, absl::Time deadline) {
  absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) {
    return absl::DeadlineExceededError(
        absl::StrCat(describe_, ": deadline passed before ", request.op));
  }
  CURL* curl = static_cast<CURL*>(Borrow());
  if (curl == nullptr) return absl::ResourceExhaustedError("curl_easy_init failed");
  std::string url = absl::StrCat(options_.endpoint, request.path);
  if (!request.query.empty()) absl::StrAppend(&url, "?", request.query);
  Response response;
  std::pair<std::string*, uint64_t> sink{&response.body, request.max_response_bytes};
  ReadSource source{request.body, 0};
  curl_slist* headers = nullptr;
  for (const std::string& header : request.headers)
    headers = curl_slist_append(headers, header.c_str());
  std::string payload_hash = absl::StrCat(
      "x-amz-content-sha256: ", request.has_body ? Sha256Hex(request.body) : kEmptySha256);
  headers = curl_slist_append(headers, payload_hash.c_str());

  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4_.c_str());
  curl_easy_setopt(curl, CURLOPT_USERPWD, userpwd_.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(
      curl, CURLOPT_CONNECTTIMEOUT_MS,
      static_cast<long>(absl::ToInt64Milliseconds(std::min(options_.connect_timeout, left))));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                   std::max<long>(1, static_cast<long>(absl::ToInt64Milliseconds(left))));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteToString);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  if (!options_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, options_.ca_file.c_str());
  if (request.head) {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (request.has_body) {
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, ReadFromView);
    curl_easy_setopt(curl, CURLOPT_READDATA, &source);
    curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, SeekView);
    curl_easy_setopt(curl, CURLOPT_SEEKDATA, &source);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    // 100-continue only costs a round trip here; the payload hash already guards the body.
    curl_easy_setopt(curl, CURLOPT_EXPECT_100_TIMEOUT_MS, 200L);
  }
  if (absl::string_view(request.method) != "GET" && !request.head) {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method);
  }
  CURLcode code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  curl_slist_free_all(headers);
  absl::Status status;
  if (code != CURLE_OK) {
    std::string what =
        absl::StrCat(describe_, ": ", request.op, " failed: ", curl_easy_strerror(code));
    if (code == CURLE_OPERATION_TIMEDOUT && absl::Now() >= deadline) {
      status = absl::DeadlineExceededError(what);
    } else if (code == CURLE_WRITE_ERROR) {
      status = absl::ResourceExhaustedError(absl::StrCat(describe_, ": ", request.op,
                                                         " answer larger than ",
                                                         request.max_response_bytes, " bytes"));
    } else {
      status = absl::UnavailableError(what);
    }
    curl_easy_cleanup(curl);  // the connection may be broken: do not reuse it
  } else {
    Return(curl);
    long s = response.status;
    if (s >= 500 || s == 429) {
      status = absl::UnavailableError(absl::StrCat(describe_, ": ", request.op, " answered HTTP ",
                                                   s, " ", response.body.substr(0, 200)));
    } else if (s == 401 || s == 403) {
      status = absl::PermissionDeniedError(absl::StrCat(
          describe_, ": ", request.op, " refused (HTTP ", s,
          "): check the access key, secret key, region and clock. ", response.body.substr(0, 200)));
    }
  }
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<S3Client::Response> S3Client::PerformWithRetries(const Request& request,
                                                                absl::Time deadline) {
  absl::Duration backoff = absl::Milliseconds(50);
  absl::BitGen random;
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<Response> response = Perform(request, deadline);
    if (response.ok() || !absl::IsUnavailable(response.status()) ||
        attempt >= options_.max_attempts) {
      return response;
    }
    absl::Duration pause = backoff * absl::Uniform(random, 0.5, 1.5);
    if (absl::Now() + pause >= deadline) return response;
    absl::SleepFor(pause);
    backoff = std::min(backoff * 2, absl::Seconds(1));
  }
}

absl::StatusOr<bool> S3Client::PutIfAbsent(absl::string_view key, absl::string_view bytes,
                                           absl::Time deadline, bool overwrite) {
  Request request;
  request.op = "put";
  request.method = "PUT";
  request.path = absl::StrCat("/", UriEncode(options_.bucket, false), "/", UriEncode(key, true));
  request.body = bytes;
  request.has_body = true;
  request.headers.push_back("Content-Type: application/octet-stream");
  if (!overwrite) request.headers.push_back("If-None-Match: *");
  // Retrying a conditional PUT is safe: if the first attempt landed, the retry sees 412 and
  // the bytes are the same (the key is their hash).
  absl::StatusOr<Response> response = PerformWithRetries(request, deadline);
  if (!response.ok()) return response.status();
  if (response->status == 200 || response->status == 201) return true;
  if (response->status == 412) return false;
  return absl::InternalError(absl::StrCat(describe_, ": put ", key, " answered HTTP ",
                                          response->status, " ", response->body.substr(0, 200)));
}

absl::StatusOr<std::string> S3Client::Get(absl::string_view key, absl::Time deadline,
                                          uint64_t max_bytes) {
  Request request;
  request.op = "get";
  request.path = absl::StrCat("/", UriEncode(options_.bucket, false), "/", UriEncode(key, true));
  request.max_response_bytes = max_bytes;
  absl::StatusOr<Response> response = PerformWithRetries(request, deadline);
  if (!response.ok()) return response.status();
  if (response->status == 200) return std::move(response->body);
  if (response->status == 404) {
    return absl::NotFoundError(absl::StrCat(describe_, ": no object ", key));
  }
  return absl::InternalError(absl::StrCat(describe_, ": get ", key, " answered HTTP ",
                                          response->status, " ", response->body.substr(0, 200)));
}

absl::StatusOr<bool> S3Client::Exists(absl::string_view key, absl::Time deadline) {
  Request request;
  request.op = "head";
  request.method = "HEAD";
  request.head = true;
  request.path = absl::StrCat("/", UriEncode(options_.bucket, false), "/", UriEncode(key, true));
  absl::StatusOr<Response> response = PerformWithRetries(request, deadline);
  if (!response.ok()) return response.status();
  if (response->status == 200) return true;
  if (response->status == 404) return false;
  return absl::InternalError(
      absl::StrCat(describe_, ": head ", key, " answered HTTP ", response->status));
}

absl::Status S3Client::Delete(absl::string_view key, absl::Time deadline) {
  Request request;
  request.op = "delete";
  request.method = "DELETE";
  request.path = absl::StrCat("/", UriEncode(options_.bucket, false), "/", UriEncode(key, true));
  absl::StatusOr<Response> response = PerformWithRetries(request, deadline);
  if (!response.ok()) return response.status();
  if (response->status == 204 || response->status == 200 || response->status == 404) {
    return absl::OkStatus();
  }
  return absl::InternalError(absl::StrCat(describe_, ": delete ", key, " answered HTTP ",
                                          response->status, " ", response->body.substr(0, 200)));
}

absl::StatusOr<std::vector<S3Client::ListedObject>> S3Client::List(absl::string_view prefix,
                                                                   absl::Time deadline) {
  std::vector<ListedObject> objects;
  std::string token;
  for (;;) {
    Request request;
    request.op = "list";
    request.path = absl::StrCat("/", UriEncode(options_.bucket, false));
    // Canonical form: parameters sorted by name, values encoded (libcurl signs it as given).
    if (!token.empty()) {
      absl::StrAppend(&request.query, "continuation-token=", UriEncode(token, false), "&");
    }
    absl::StrAppend(&request.query, "list-type=2&prefix=", UriEncode(prefix, false));
    absl::StatusOr<Response> response = PerformWithRetries(request, deadline);
    if (!response.ok()) return response.status();
    if (response->status != 200) {
      return absl::InternalError(absl::StrCat(describe_, ": list answered HTTP ", response->status,
                                              " ", response->body.substr(0, 200)));
    }
    absl::string_view xml = response->body;
    size_t pos = 0;
    for (;;) {
      absl::string_view contents = XmlElement(xml, "Contents", &pos);
      if (contents.empty()) break;
      ListedObject object;
      size_t p = 0;
      object.key = XmlUnescape(XmlElement(contents, "Key", &p));
      p = 0;
      std::string modified(XmlElement(contents, "LastModified", &p));
      std::string error;
      if (!absl::ParseTime("%Y-%m-%d%ET%H:%M:%E*S%Ez",
                           absl::StrReplaceAll(modified, {{"Z", "+00:00"}}), &object.last_modified,
                           &error)) {
        object.last_modified = absl::InfinitePast();
      }
      p = 0;
      if (!absl::SimpleAtoi(XmlElement(contents, "Size", &p), &object.size)) object.size = 0;
      objects.push_back(std::move(object));
    }
    size_t p = 0;
    bool truncated = XmlElement(xml, "IsTruncated", &p) == "true";
    p = 0;
    token = XmlUnescape(XmlElement(xml, "NextContinuationToken", &p));
    if (!truncated || token.empty()) break;
  }
  return objects;
}

absl::Status S3Client::CreateBucket(absl::Time deadline) {
  Request request;
  request.op = "create_bucket";
  request.method = "PUT";
  request.path = absl::StrCat("/", UriEncode(options_.bucket, false));
  std::string body;
  if (options_.region != "us-east-1") {
    body = absl::StrCat(
        "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<LocationConstraint>",
        options_.region, "</LocationConstraint></CreateBucketConfiguration>");
    request.body = body;
    request.has_body = true;
    request.headers.push_back("Content-Type: application/xml");
  }
  absl::StatusOr<Response> response = PerformWithRetries(request, deadline);
  if (!response.ok()) return response.status();
  if (response->status == 200 ||
      (response->status == 409 && absl::StrContains(response->body, "BucketAlreadyOwnedByYou"))) {
    return absl::OkStatus();
  }
  return absl::InternalError(absl::StrCat(describe_, ": create bucket answered HTTP ",
                                          response->status, " ", response->body.substr(0, 200)));
}

}  // namespace isopool::store
