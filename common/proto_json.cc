#include "common/proto_json.h"

#include <cmath>
#include <cstdint>

namespace baton {

using json = nlohmann::json;

json ValueToJson(const google::protobuf::Value& value) {
  switch (value.kind_case()) {
    case google::protobuf::Value::kNumberValue: {
      const double d = value.number_value();
      // Integral doubles within the exactly representable range print as integers.
      if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) <= 9007199254740992.0) {
        return json(static_cast<int64_t>(d));
      }
      return json(d);
    }
    case google::protobuf::Value::kStringValue:
      return json(value.string_value());
    case google::protobuf::Value::kBoolValue:
      return json(value.bool_value());
    case google::protobuf::Value::kStructValue:
      return StructToJson(value.struct_value());
    case google::protobuf::Value::kListValue: {
      json array = json::array();
      for (const google::protobuf::Value& v : value.list_value().values()) array.push_back(ValueToJson(v));
      return array;
    }
    case google::protobuf::Value::kNullValue:
    case google::protobuf::Value::KIND_NOT_SET:
      break;
  }
  return json(nullptr);
}

json StructToJson(const google::protobuf::Struct& value) {
  json object = json::object();
  for (const auto& [key, v] : value.fields()) object[key] = ValueToJson(v);
  return object;
}

}  // namespace baton
