// edgevision: main only parses flags and hands them to a command.
#include <CLI/CLI.hpp>

#include "cli/commands.h"

namespace {

const char* kVersion = EDGEVISION_VERSION;

}  // namespace

int main(int argc, char** argv) {
  using namespace edgevision::cli;
  CLI::App app{"edgevision: Azure Custom Vision exports served on the edge"};
  app.require_subcommand(1);
  app.set_version_flag("--version", kVersion);

  ServeOptions serve;
  CLI::App* serve_cmd = app.add_subcommand("serve", "Serve a model over the Custom Vision prediction HTTP API");
  serve_cmd->add_option("--model", serve.model,
                        "Export folder, Dockerfile export folder, export .zip or model file (default: demo model)")
      ->envname("EDGEVISION_MODEL");
  serve_cmd->add_option("--host", serve.host, "Address to listen on")->envname("EDGEVISION_HOST")->capture_default_str();
  serve_cmd->add_option("--port", serve.port, "Port to listen on")
      ->envname("EDGEVISION_PORT")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  serve_cmd->add_option("--threads", serve.threads, "Inference threads in total (default: CPU cores)")
      ->envname("EDGEVISION_THREADS")
      ->check(CLI::Range(0, 256));
  serve_cmd->add_option("--workers", serve.workers,
                        "Inferences run at once; each gets threads/workers threads (default: = threads)")
      ->envname("EDGEVISION_WORKERS")
      ->check(CLI::Range(0, 256));
  serve_cmd->add_option("--max-body-bytes", serve.max_body_bytes, "Largest accepted request body")
      ->envname("EDGEVISION_MAX_BODY_BYTES");
  serve_cmd->add_option("--http-threads", serve.http_threads, "Connection-handling threads")
      ->envname("EDGEVISION_HTTP_THREADS")
      ->check(CLI::Range(0, 1024));
  serve_cmd->add_flag("--url-allow-loopback", serve.url_allow_loopback,
                      "Let /url routes fetch from loopback addresses (denied by default)")
      ->envname("EDGEVISION_URL_ALLOW_LOOPBACK");
  serve_cmd->add_option("--url-allow", serve.url_allow, "Address ranges /url may always fetch from (CIDR)")
      ->envname("EDGEVISION_URL_ALLOW")
      ->delimiter(',');
  serve_cmd->add_option("--url-deny", serve.url_deny, "Address ranges /url may never fetch from (CIDR)")
      ->envname("EDGEVISION_URL_DENY")
      ->delimiter(',');
  serve_cmd->add_option("--tls-cert", serve.tls_cert, "PEM certificate: serve HTTPS")->envname("EDGEVISION_TLS_CERT");
  serve_cmd->add_option("--tls-key", serve.tls_key, "PEM private key for --tls-cert")->envname("EDGEVISION_TLS_KEY");
  serve_cmd->add_option("--data-dir", serve.data_dir,
                        "Folder for durable state: capture store and upstream outbox (default: none)")
      ->envname("EDGEVISION_DATA_DIR");
  // --- upstream publishing flags (src/upstream) ---
  // --- capture store flags (src/store) ---

  PredictOptions predict;
  CLI::App* predict_cmd =
      app.add_subcommand("predict", "Classify images and print the JSON the server returns, one document per image");
  auto* model_opt = predict_cmd->add_option("--model", predict.model, "Model to run locally (default: demo model)");
  auto* server_opt = predict_cmd->add_option("--server", predict.server,
                                             "POST the images to this edgevision or container URL instead");
  model_opt->excludes(server_opt);
  predict_cmd->add_option("--threads", predict.threads, "Inference threads (local model)")->check(CLI::Range(1, 256));
  predict_cmd->add_option("images", predict.images, "Image files")->required()->check(CLI::ExistingFile);

  InspectOptions inspect;
  CLI::App* inspect_cmd = app.add_subcommand("inspect", "Describe a model: format, input, labels, ops, rewrites");
  inspect_cmd->add_option("--model", inspect.model, "Model to describe (default: demo model)");
  inspect_cmd->add_flag("--json", inspect.json, "Print JSON instead of text");

  TensorOptions tensor;
  CLI::App* tensor_cmd = app.add_subcommand(
      "tensor", "Write the exact input tensor the model is fed for an image (float32 .npy, HxWx3)");
  tensor_cmd->add_option("--model", tensor.model, "Model whose preprocessing to use (default: demo model)");
  tensor_cmd->add_option("image", tensor.image, "Image file")->required()->check(CLI::ExistingFile);
  tensor_cmd->add_option("--out", tensor.out, "Output .npy file")->required();

  CLI11_PARSE(app, argc, argv);

  if (serve_cmd->parsed()) return RunServe(serve);
  if (predict_cmd->parsed()) return RunPredict(predict);
  if (inspect_cmd->parsed()) return RunInspect(inspect);
  if (tensor_cmd->parsed()) return RunTensor(tensor);
  return 2;
}
