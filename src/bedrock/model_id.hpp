#pragma once
// Bedrock model identifiers: validation, classification and the request path.
//
// Accepted forms (as the service model's ConversationalModelId, 1-2048 characters):
//   base model id          anthropic.claude-3-haiku-20240307-v1:0, amazon.titan-text-express-v1
//   inference profile id   us.anthropic.claude-3-5-sonnet-20240620-v1:0 (us. eu. apac. jp. au. ca. us-gov. global. ...)
//   ARN                    arn:aws[-cn|-us-gov]:bedrock:REGION:[ACCOUNT]:TYPE/ID, TYPE one of foundation-model,
//                          inference-profile, application-inference-profile, provisioned-model, custom-model,
//                          custom-model-deployment, imported-model, prompt, prompt-router, default-prompt-router
//   SageMaker endpoint ARN arn:aws:sagemaker:REGION:ACCOUNT:endpoint/NAME
#include <string>
#include <string_view>

#include "bedrock/types.hpp"
#include "util/result.hpp"

namespace ba::bedrock {

// The model serve, lambda and deploy use unless told otherwise.
inline constexpr const char* kDefaultModelId = "anthropic.claude-3-sonnet-20240229-v1:0";

struct ModelIdInfo {
  enum class Kind { base, inference_profile, arn };
  Kind kind = Kind::base;
  std::string arn_resource_type;  // for ARNs: "foundation-model", "inference-profile", ...
  std::string geo_prefix;         // "us", "eu", "global", ... for (system) inference profiles
  std::string base_model_id;      // e.g. "anthropic.claude-3-haiku-20240307-v1:0"; empty if the id hides it
};

// ErrorKind::invalid_input with a message saying what is wrong.
Status validate_model_id(std::string_view model_id);
// Assumes a valid id; fields it cannot determine stay empty.
ModelIdInfo describe_model_id(std::string_view model_id);

enum class Operation { converse, converse_stream, invoke, invoke_stream, count_tokens };
// "/model/{percent-encoded id}/converse" etc.; everything but A-Za-z0-9-._~ is encoded (':' -> %3A, '/' -> %2F).
std::string model_path(std::string_view model_id, Operation op);

}  // namespace ba::bedrock
