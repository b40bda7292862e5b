#include "common/tracing/process_tracing.h"

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace baton::tracing {

absl::StatusOr<std::unique_ptr<ProcessTracing>> ProcessTracing::FromEnvironment(const std::string& service_name) {
  std::unique_ptr<ProcessTracing> tracing(new ProcessTracing());
  if (const char* capture = std::getenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")) {
    if (absl::AsciiStrToLower(absl::StripAsciiWhitespace(capture)) == "true") SetCaptureMessageContent(true);
  }
  absl::StatusOr<std::optional<OtlpHttpExporterOptions>> options = OtlpHttpExporterOptions::FromEnvironment(service_name);
  if (!options.ok()) return options.status();
  if (!options->has_value()) return tracing;
  if (const char* protocol = std::getenv("OTEL_EXPORTER_OTLP_PROTOCOL");
      protocol != nullptr && std::string(protocol) != "http/json") {
    BATON_LOG(WARNING) << "OTEL_EXPORTER_OTLP_PROTOCOL=" << protocol << ": Baton exports http/json only";
  }
  BATON_LOG(INFO) << "tracing: spans to " << (*options)->url << " (OTLP/HTTP JSON)";
  tracing->exporter_ = std::make_unique<OtlpHttpExporter>(**std::move(options));
  tracing->tracer_ = std::make_unique<Tracer>(tracing->exporter_.get());
  Tracer::SetGlobal(tracing->tracer_.get());
  return tracing;
}

ProcessTracing::~ProcessTracing() {
  if (tracer_ != nullptr) Tracer::SetGlobal(nullptr);
  if (exporter_ != nullptr) exporter_->Shutdown();
}

absl::StatusOr<std::unique_ptr<ProcessTracing>> InitLogsAndTraces(const Flags& flags, const std::string& service_name) {
  if (absl::Status s = SetLogFormat(flags.GetString(kLogFormatFlag, "text")); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--", kLogFormatFlag, ": ", s.message()));
  }
  return ProcessTracing::FromEnvironment(service_name);
}

}  // namespace baton::tracing
