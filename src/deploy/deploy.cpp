#include "deploy/deploy.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "aws/credentials.hpp"
#include "aws/endpoints.hpp"
#include "aws/s3.hpp"
#include "deploy/cloudformation.hpp"
#include "net/http_client.hpp"
#include "util/encoding.hpp"

namespace ba::deploy {

std::string artifact_bucket_name(std::string_view account_id, std::string_view region) {
  return "bedrock-agent-artifacts-" + std::string(account_id) + "-" + std::string(region);
}

std::string artifact_key(std::string_view zip_bytes) { return "bedrock-agent/" + sha256_hex(zip_bytes) + ".zip"; }

namespace {

using boost::asio::awaitable;

// CloudFormation accepts at most this many bytes as TemplateBody; larger templates go through S3.
constexpr std::size_t kMaxTemplateBody = 51'200;

std::optional<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return std::move(s).str();
}

// An explicit path as given; the default relative to the working directory, else to the source tree
// the binary was built in, found from where the binary is (build/bedrock-agent → build/.. ), so that
// no build-machine path is compiled in.
std::filesystem::path locate(const std::string& given, const char* default_relative) {
  if (!given.empty()) return given;
  std::filesystem::path here(default_relative);
  if (std::filesystem::exists(here)) return here;
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    std::filesystem::path source = exe.parent_path().parent_path() / default_relative;
    if (std::filesystem::exists(source, ec)) return source;
  }
  return here;
}

bool valid_stack_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  if (!((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z'))) return false;
  for (char ch : name) {
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-')) return false;
  }
  return true;
}

bool in_progress(std::string_view status) { return status.ends_with("_IN_PROGRESS"); }

std::string number(double v) {
  std::ostringstream s;
  s.precision(15);
  s << v;
  return s.str();
}

awaitable<void> pause(std::chrono::milliseconds d) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  timer.expires_after(d);
  co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
}

struct Context {
  const DeployOptions& o;
  std::ostream& out;
  std::ostream& err;
  Clock& clock;
  aws::GetEnv env;
  std::string region;
  net::HttpClient& http;
  aws::CredentialsProvider& credentials;
  aws::CloudFormationClient& cfn;
};

void print_error(Context& c, std::string_view what, const Error& e) {
  c.err << "error: ";
  if (!e.message.starts_with(std::string(what) + ":")) c.err << what << ": ";  // the client names the action
  c.err << e.message;
  if (!e.code.empty() && e.message.find(e.code) == std::string::npos) c.err << " (" << e.code << ")";
  c.err << "\n";
}

void print_event(Context& c, const aws::StackEvent& e) {
  c.out << "  " << e.timestamp << "  " << e.resource_status << "  " << e.resource_type << "  "
        << e.logical_resource_id;
  if (!e.resource_status_reason.empty()) c.out << "  " << e.resource_status_reason;
  c.out << "\n";
  c.out.flush();
}

// The first failure of this run that says why (not the cascade of "Resource creation cancelled").
struct FailureTracker {
  std::optional<aws::StackEvent> first;
  void see(const aws::StackEvent& e) {
    if (first || !e.resource_status.ends_with("_FAILED") || e.resource_status_reason.empty()) return;
    if (e.resource_status_reason.find("cancelled") != std::string::npos) return;
    first = e;
  }
};

struct WaitResult {
  std::string final_status;  // the stack's last status ("DELETE_COMPLETE" once deleted)
  FailureTracker failures;
};

// Polls DescribeStackEvents (printing each new event, oldest first) until an event of the stack itself
// has a settled status. `stack_ref` is the stack id (ARN), which keeps working after deletion.
awaitable<Result<WaitResult>> wait_for_stack(Context& c, const std::string& stack_ref, std::set<std::string>& seen) {
  const auto deadline = c.clock.now() + c.o.timeout;
  WaitResult w;
  while (true) {
    auto events = co_await c.cfn.describe_stack_events(stack_ref);
    if (!events) {
      if (aws::is_stack_missing(events.error())) {  // a stack deleted and forgotten
        w.final_status = "DELETE_COMPLETE";
        co_return w;
      }
      co_return std::unexpected(std::move(events.error()));
    }
    std::string settled;
    for (auto it = events->rbegin(); it != events->rend(); ++it) {
      if (!seen.insert(it->event_id).second) continue;
      print_event(c, *it);
      w.failures.see(*it);
      if (it->resource_type == "AWS::CloudFormation::Stack" && it->logical_resource_id == c.o.stack_name &&
          !in_progress(it->resource_status)) {
        settled = it->resource_status;
      }
    }
    if (!settled.empty()) {
      w.final_status = settled;
      co_return w;
    }
    if (c.clock.now() >= deadline) {
      co_return fail(ErrorKind::timeout, "the stack did not settle within " + std::to_string(c.o.timeout.count()) +
                                             " s (it goes on in CloudFormation; see the AWS console)");
    }
    co_await pause(c.o.poll_interval);
  }
}

awaitable<Result<std::set<std::string>>> existing_event_ids(Context& c, const std::string& stack_ref) {
  std::set<std::string> ids;
  auto events = co_await c.cfn.describe_stack_events(stack_ref);
  if (!events) co_return std::unexpected(std::move(events.error()));
  for (const auto& e : *events) ids.insert(e.event_id);
  co_return ids;
}

void print_outputs(Context& c, const aws::StackInfo& stack) {
  c.out << "\nStack " << stack.stack_name << ": " << stack.status << "\n";
  if (stack.outputs.empty()) return;
  c.out << "Outputs:\n";
  for (const auto& o : stack.outputs) c.out << "  " << o.key << " = " << o.value << "\n";
  if (auto url = stack.output("ApiUrl")) c.out << "\nEndpoint: " << *url << "/chat\n";
  if (auto key_id = stack.output("ApiKeyId")) {
    c.out << "API key (send it as the x-api-key header):\n"
          << "  aws apigateway get-api-key --api-key " << *key_id << " --include-value --query value --output text"
          << " --region " << c.region << "\n";
    if (auto url = stack.output("ApiUrl")) {
      c.out << "Try it:\n"
            << "  curl -X POST " << *url << "/chat -H \"x-api-key: $KEY\" -H \"Content-Type: application/json\""
            << " -d '{\"input\": \"Hello\"}'\n";
    }
  }
  c.out.flush();
}

// The S3 endpoint: an override (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL) is used path-style.
aws::S3Config s3_config(Context& c) {
  aws::S3Config cfg;
  cfg.region = c.region;
  auto endpoint = aws::resolve_s3_endpoint(c.region, c.env);
  cfg.endpoint = endpoint.url;
  cfg.path_style = endpoint.path_style;
  return cfg;
}

awaitable<Result<std::string>> choose_bucket(Context& c) {
  if (!c.o.artifact_bucket.empty()) co_return c.o.artifact_bucket;
  aws::CloudFormationConfig sts;
  sts.region = c.region;
  sts.endpoint = aws::resolve_endpoint("STS", "sts", c.region, c.env);
  auto account = co_await aws::get_caller_account(c.http, c.credentials, sts, c.clock);
  if (!account) {
    Error e = std::move(account.error());
    e.message = "cannot name the artifacts bucket (STS GetCallerIdentity: " + e.message +
                "); pass --artifact-bucket NAME";
    co_return std::unexpected(std::move(e));
  }
  co_return artifact_bucket_name(*account, c.region);
}

// Makes sure s3://bucket/key holds `body` (content-addressed: an existing key is not uploaded again).
awaitable<Status> ensure_object(Context& c, aws::S3Client& s3, const std::string& bucket, const std::string& key,
                                std::string body, const std::string& content_type) {
  auto head = co_await s3.head_object(bucket, key);
  if (head) {
    c.out << "Already uploaded: s3://" << bucket << "/" << key << "\n";
    co_return Status{};
  }
  if (head.error().kind != ErrorKind::not_found) co_return std::unexpected(std::move(head.error()));
  const auto size = body.size();
  aws::S3PutOptions put_options;  // a named local: GCC 12 mishandles aggregate temporaries in co_await arguments
  put_options.content_type = content_type;
  auto put = co_await s3.put_large(bucket, key, std::move(body), std::move(put_options));
  if (!put) co_return std::unexpected(std::move(put.error()));
  c.out << "Uploaded s3://" << bucket << "/" << key << " (" << size << " bytes)\n";
  co_return Status{};
}

awaitable<Status> ensure_bucket(Context& c, aws::S3Client& s3, const std::string& bucket) {
  auto head = co_await s3.head_bucket(bucket);
  if (head) co_return Status{};
  if (head.error().kind != ErrorKind::not_found) {
    Error e = std::move(head.error());
    e.message = "artifacts bucket " + bucket + ": " + e.message +
                (e.kind == ErrorKind::forbidden ? " (owned by another account? pass --artifact-bucket)" : "");
    co_return std::unexpected(std::move(e));
  }
  auto created = co_await s3.create_bucket(bucket);
  if (!created) co_return std::unexpected(std::move(created.error()));
  c.out << "Created artifacts bucket " << bucket << "\n";
  co_return Status{};
}

awaitable<int> deploy(Context& c, std::string template_body, std::string zip,
                      std::vector<aws::StackParameter> extra) {
  const auto& o = c.o;
  // 1. Where the stack stands: a new stack (CREATE), an existing one (UPDATE) or one that cannot be updated.
  auto current = co_await c.cfn.describe_stack(o.stack_name);
  if (!current) {
    print_error(c, "DescribeStacks", current.error());
    co_return 1;
  }
  std::string type = "CREATE";
  if (*current) {
    const auto& st = (*current)->status;
    if (st == "ROLLBACK_COMPLETE" || st == "ROLLBACK_FAILED" || st == "DELETE_FAILED") {
      c.err << "error: stack " << o.stack_name << " is " << st
            << " (its creation failed or it could not be deleted) and cannot be updated; delete it with\n"
            << "  bedrock-agent deploy --delete --stack-name " << o.stack_name << " --region " << c.region
            << "\nand deploy again\n";
      co_return 1;
    }
    if (st != "REVIEW_IN_PROGRESS") {
      if (in_progress(st)) {
        c.err << "error: stack " << o.stack_name << " is busy (" << st << "); wait for it to settle and retry\n";
        co_return 1;
      }
      type = "UPDATE";
    }
  }
  c.out << (type == "CREATE" ? "Creating" : "Updating") << " stack " << o.stack_name << " in " << c.region << "\n";

  // 2. The package (and, if too large for TemplateBody, the template) in the artifacts bucket.
  auto bucket = co_await choose_bucket(c);
  if (!bucket) {
    print_error(c, "artifacts bucket", bucket.error());
    co_return 1;
  }
  aws::S3Client s3(c.http, c.credentials, s3_config(c), c.clock);
  if (auto ok = co_await ensure_bucket(c, s3, *bucket); !ok) {
    print_error(c, "S3", ok.error());
    co_return 1;
  }
  const std::string key = artifact_key(zip);
  if (auto ok = co_await ensure_object(c, s3, *bucket, key, std::move(zip), "application/zip"); !ok) {
    print_error(c, "uploading the package", ok.error());
    co_return 1;
  }
  aws::CreateChangeSetRequest req;
  if (template_body.size() > kMaxTemplateBody) {
    const std::string tkey = "bedrock-agent/template-" + sha256_hex(template_body) + ".yaml";
    if (auto ok = co_await ensure_object(c, s3, *bucket, tkey, template_body, "text/yaml"); !ok) {
      print_error(c, "uploading the template", ok.error());
      co_return 1;
    }
    req.template_url = s3.object_url(*bucket, tkey);
  } else {
    req.template_body = std::move(template_body);
  }

  // 3. A change set.
  req.stack_name = o.stack_name;
  req.change_set_name = "bedrock-agent-" + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                              c.clock.wall().time_since_epoch())
                                                              .count());
  req.change_set_type = type;
  req.capabilities = {"CAPABILITY_IAM"};
  req.description = "bedrock-agent deploy";
  req.tags = {{"application", "bedrock-agent"}};
  req.parameters = {
      {"ModelId", o.model_id},
      {"MaxRequestsPerMinute", number(o.max_rpm)},
      {"MaxTokensPerMinute", number(o.max_tpm)},
      {"MaxTokensPerDay", std::to_string(o.max_tokens_per_day)},
      {"ArtifactBucket", *bucket},
      {"ArtifactKey", key},
  };
  for (auto& p : extra) {
    auto same = std::ranges::find_if(req.parameters, [&](const auto& q) { return q.key == p.key; });
    if (same != req.parameters.end()) *same = std::move(p);
    else req.parameters.push_back(std::move(p));
  }
  auto created = co_await c.cfn.create_change_set(req);
  if (!created) {
    print_error(c, "CreateChangeSet", created.error());
    co_return 1;
  }
  c.out << "Change set " << req.change_set_name << " created; waiting for CloudFormation to compute it\n";
  c.out.flush();
  const std::string stack_ref = created->stack_id.empty() ? o.stack_name : created->stack_id;

  aws::ChangeSetInfo info;
  const auto deadline = c.clock.now() + o.timeout;
  while (true) {
    auto d = co_await c.cfn.describe_change_set(stack_ref, req.change_set_name);
    if (!d) {
      print_error(c, "DescribeChangeSet", d.error());
      co_return 1;
    }
    info = std::move(*d);
    if (info.status == "CREATE_COMPLETE" || info.status == "FAILED") break;
    if (c.clock.now() >= deadline) {
      c.err << "error: the change set was not ready within " << o.timeout.count() << " s\n";
      co_return 1;
    }
    co_await pause(o.poll_interval);
  }
  if (info.status == "FAILED") {
    (void)co_await c.cfn.delete_change_set(stack_ref, req.change_set_name);
    if (aws::is_no_changes(info)) {
      c.out << "No changes: the stack is up to date (same package, template and parameters)\n";
      if (*current) print_outputs(c, **current);
      co_return 0;
    }
    c.err << "error: the change set failed: " << info.status_reason << "\n";
    co_return 1;
  }
  c.out << "Change set ready: " << info.changes << " resource change(s)\n";

  // 4. Execute, then follow the events until the stack settles.
  auto seen = co_await existing_event_ids(c, stack_ref);
  if (!seen) {
    print_error(c, "DescribeStackEvents", seen.error());
    co_return 1;
  }
  if (auto ok = co_await c.cfn.execute_change_set(stack_ref, req.change_set_name); !ok) {
    print_error(c, "ExecuteChangeSet", ok.error());
    co_return 1;
  }
  if (o.no_wait) {
    c.out << "Executing change set " << req.change_set_name << " (--no-wait: not waiting; follow it with\n"
          << "  aws cloudformation describe-stack-events --stack-name " << o.stack_name << " --region " << c.region
          << ")\n";
    co_return 0;
  }
  c.out << "Executing change set; events:\n";
  auto waited = co_await wait_for_stack(c, stack_ref, *seen);
  if (!waited) {
    print_error(c, "waiting for the stack", waited.error());
    co_return 1;
  }
  if (waited->final_status != "CREATE_COMPLETE" && waited->final_status != "UPDATE_COMPLETE") {
    c.err << "error: deployment failed: the stack is " << waited->final_status << "\n";
    if (const auto& f = waited->failures.first) {
      c.err << "  first failure: " << f->logical_resource_id << " (" << f->resource_type << ") "
            << f->resource_status << ": " << f->resource_status_reason << "\n";
    }
    if (waited->final_status == "ROLLBACK_COMPLETE") {
      c.err << "  a stack whose creation failed must be deleted before the next deploy: "
            << "bedrock-agent deploy --delete --stack-name " << o.stack_name << "\n";
    }
    co_return 1;
  }
  auto final_stack = co_await c.cfn.describe_stack(stack_ref);
  if (!final_stack || !*final_stack) {
    if (!final_stack) print_error(c, "DescribeStacks", final_stack.error());
    else c.err << "error: the stack vanished after " << waited->final_status << "\n";
    co_return 1;
  }
  print_outputs(c, **final_stack);
  co_return 0;
}

awaitable<int> remove(Context& c) {
  const auto& o = c.o;
  auto current = co_await c.cfn.describe_stack(o.stack_name);
  if (!current) {
    print_error(c, "DescribeStacks", current.error());
    co_return 1;
  }
  if (!*current) {
    c.out << "Stack " << o.stack_name << " does not exist in " << c.region << ": nothing to delete\n";
    co_return 0;
  }
  const aws::StackInfo stack = **current;
  const std::string stack_ref = stack.stack_id.empty() ? o.stack_name : stack.stack_id;
  auto seen = co_await existing_event_ids(c, stack_ref);
  if (!seen) {
    print_error(c, "DescribeStackEvents", seen.error());
    co_return 1;
  }
  if (auto ok = co_await c.cfn.delete_stack(stack_ref); !ok) {
    print_error(c, "DeleteStack", ok.error());
    co_return 1;
  }
  c.out << "Deleting stack " << o.stack_name << " in " << c.region << "\n";
  if (o.no_wait) co_return 0;
  auto waited = co_await wait_for_stack(c, stack_ref, *seen);
  if (!waited) {
    print_error(c, "waiting for the deletion", waited.error());
    co_return 1;
  }
  if (waited->final_status != "DELETE_COMPLETE") {
    c.err << "error: deletion failed: the stack is " << waited->final_status << "\n";
    if (const auto& f = waited->failures.first) {
      c.err << "  first failure: " << f->logical_resource_id << " (" << f->resource_type << "): "
            << f->resource_status_reason << "\n";
    }
    co_return 1;
  }
  c.out << "Stack " << o.stack_name << " deleted.\n";
  auto table = stack.output("ConversationTableName");
  auto files = stack.output("FilesBucketName");
  if (table || files) {
    c.out << "Kept (DeletionPolicy: Retain) — remove them yourself when the data is no longer needed:\n";
    if (table) c.out << "  aws dynamodb delete-table --table-name " << *table << " --region " << c.region << "\n";
    if (files) c.out << "  aws s3 rb s3://" << *files << " --force --region " << c.region << "\n";
  }
  co_return 0;
}

}  // namespace

int run_deploy(const DeployOptions& o, std::ostream& out, std::ostream& err) {
  aws::GetEnv env = o.getenv ? aws::GetEnv(o.getenv) : aws::process_env();
  Clock& clock = o.clock ? *o.clock : system_clock();
  if (!valid_stack_name(o.stack_name)) {
    err << "error: --stack-name '" << o.stack_name
        << "': 1-128 characters of letters, digits and '-', starting with a letter\n";
    return 2;
  }
  std::vector<aws::StackParameter> extra;
  for (const auto& p : o.parameters) {
    auto eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      err << "error: --parameter '" << p << "': expected Key=Value\n";
      return 2;
    }
    extra.push_back({p.substr(0, eq), p.substr(eq + 1), false});
  }
  std::string template_body, zip;
  if (!o.remove) {
    const auto tpath = locate(o.template_path, kDefaultTemplatePath);
    auto t = read_file(tpath);
    if (!t) {
      err << "error: cannot read the template " << tpath.string() << " (--template PATH)\n";
      return 2;
    }
    template_body = std::move(*t);
    const auto zpath = locate(o.package_path, kDefaultPackagePath);
    auto z = read_file(zpath);
    if (!z || z->empty()) {
      err << "error: no Lambda package at " << zpath.string()
          << ": build it with `make package` (a zip with the `bootstrap` executable) or pass --package PATH\n";
      return 2;
    }
    zip = std::move(*z);
  }

  std::string region = aws::resolve_region(o.region, o.profile, env);
  if (region.empty()) region = "us-east-1";

  boost::asio::io_context io;
  auto http = net::make_http_client(io, net::ClientConfig{.getenv = env});
  auto credentials = aws::make_default_chain(
      *http, aws::ProviderSettings{.profile = o.profile, .home = o.home, .getenv = env}, clock);
  std::unique_ptr<aws::CloudFormationClient> cfn;
  try {
    aws::CloudFormationConfig cfg;
    cfg.region = region;
    cfg.endpoint = aws::resolve_endpoint("CloudFormation", "cloudformation", region, env);
    cfn = aws::make_cloudformation_client(*http, *credentials, cfg, clock);
  } catch (const std::exception& e) {
    err << "error: " << e.what() << "\n";
    return 2;
  }
  Context c{o, out, err, clock, env, region, *http, *credentials, *cfn};
  auto task = [&]() -> awaitable<int> {
    if (o.remove) co_return co_await remove(c);
    co_return co_await deploy(c, std::move(template_body), std::move(zip), std::move(extra));
  };
  auto result = boost::asio::co_spawn(io, task(), boost::asio::use_future);
  try {
    io.run();
    return result.get();
  } catch (const std::exception& e) {  // S3Client rejects a bad endpoint at construction
    err << "error: " << e.what() << "\n";
    return 2;
  }
}

int run_deploy(const DeployOptions& options) { return run_deploy(options, std::cout, std::cerr); }

}  // namespace ba::deploy
