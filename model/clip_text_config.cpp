#include "model/clip_text_config.h"

#include <cmath>
#include <cstddef>
#include <fstream>
#include <locale>
#include <sstream>
#include <string_view>
#include <utility>

#include "model/config_error.h"
#include "model/safetensors_header.h"
#include "model/size_limits.h"
#include "model/weights_error.h"

namespace tessera::model {
namespace {

// Keys a Hugging Face config carries that do not change CLIPTextModel's
// architecture or its forward pass at inference:
// - PretrainedConfig's bookkeeping, output-format and generation settings
//   (transformers' configuration_utils.py, as written by to_dict());
// - CLIP's training-only settings: dropout, attention_dropout (zero or not,
//   dropout is off at inference), initializer_range, initializer_factor;
// - projection_dim (used only by CLIPTextModelWithProjection / CLIPModel's
//   text_projection, which is not part of the text transformer);
// - "attn_implementation" / "_attn_implementation_autoset" (which kernel HF
//   runs, not what it computes).
constexpr std::string_view kIgnoredHuggingFaceKeys[] = {
    "_attn_implementation_autoset",
    "_commit_hash",
    "_name_or_path",
    "add_cross_attention",
    "architectures",
    "attention_dropout",
    "attn_implementation",
    "bad_words_ids",
    "begin_suppress_tokens",
    "chunk_size_feed_forward",
    "cross_attention_hidden_size",
    "decoder_start_token_id",
    "diversity_penalty",
    "do_sample",
    "dropout",
    "early_stopping",
    "encoder_no_repeat_ngram_size",
    "exponential_decay_length_penalty",
    "finetuning_task",
    "forced_bos_token_id",
    "forced_decoder_ids",
    "forced_eos_token_id",
    "gradient_checkpointing",
    "id2label",
    "initializer_factor",
    "initializer_range",
    "is_decoder",
    "is_encoder_decoder",
    "label2id",
    "length_penalty",
    "max_length",
    "min_length",
    "no_repeat_ngram_size",
    "num_beam_groups",
    "num_beams",
    "num_labels",
    "num_return_sequences",
    "output_attentions",
    "output_hidden_states",
    "output_scores",
    "prefix",
    "problem_type",
    "projection_dim",
    "pruned_heads",
    "remove_invalid_values",
    "repetition_penalty",
    "return_dict",
    "return_dict_in_generate",
    "sep_token_id",
    "suppress_tokens",
    "task_specific_params",
    "temperature",
    "tf_legacy_loss",
    "tie_encoder_decoder",
    "tie_word_embeddings",
    "tokenizer_class",
    "top_k",
    "top_p",
    "torch_dtype",
    "torchscript",
    "transformers_version",
    "typical_p",
    "use_bfloat16",
    "use_cache",
    "output_past",
    "dtype",
    "xla_device",
};

// Top-level keys of a full CLIPConfig besides the text config and the keys
// above: the vision tower and the joint model's settings.
constexpr std::string_view kIgnoredClipModelKeys[] = {
    "vision_config",
    "vision_config_dict",
    "logit_scale_init_value",
};

template <size_t N>
bool contains(const std::string_view (&list)[N], std::string_view key) {
  for (std::string_view entry : list) {
    if (entry == key) return true;
  }
  return false;
}

std::string kind_name(JsonValue::Kind kind) {
  switch (kind) {
    case JsonValue::Kind::kNull:
      return "null";
    case JsonValue::Kind::kBool:
      return "a boolean";
    case JsonValue::Kind::kNumber:
      return "a number";
    case JsonValue::Kind::kString:
      return "a string";
    case JsonValue::Kind::kArray:
      return "an array";
    case JsonValue::Kind::kObject:
      return "an object";
  }
  return "a value";
}

// Reads the values of one JSON object of config file `file`; `where` (the
// file, or the file and the object's key) starts its errors.
class Reader {
 public:
  Reader(std::string file, std::string where) : file_(std::move(file)), where_(std::move(where)) {}

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw ConfigError(where_ + ": " + what, file_, key);
  }

  int64_t integer(const std::string& key, const JsonValue& value) const {
    const std::optional<int64_t> n = value.as_int64();
    if (!n) fail(key, "\"" + key + "\" must be an integer, got " + describe(value));
    return *n;
  }

  std::optional<int64_t> optional_integer(const std::string& key, const JsonValue& value) const {
    if (value.kind == JsonValue::Kind::kNull) return std::nullopt;
    return integer(key, value);
  }

  double number(const std::string& key, const JsonValue& value) const {
    if (value.kind != JsonValue::Kind::kNumber) fail(key, "\"" + key + "\" must be a number, got " + describe(value));
    std::istringstream in(value.text);
    in.imbue(std::locale::classic());
    double result = 0.0;
    in >> result;
    if (in.fail() || !in.eof() || !std::isfinite(result)) {
      fail(key, "\"" + key + "\" must be a finite number, got " + value.text);
    }
    return result;
  }

  std::string string(const std::string& key, const JsonValue& value) const {
    if (value.kind != JsonValue::Kind::kString) fail(key, "\"" + key + "\" must be a string, got " + describe(value));
    return value.text;
  }

  static std::string describe(const JsonValue& value) {
    if (value.kind == JsonValue::Kind::kNumber) return value.text;
    if (value.kind == JsonValue::Kind::kString) return "\"" + value.text + "\"";
    return kind_name(value.kind);
  }

 private:
  std::string file_;
  std::string where_;
};

// Reads one CLIPTextConfig object of config file `file`; `where` prefixes errors.
ClipTextConfig read_text_config(const JsonValue& object, const std::string& file, const std::string& where) {
  const Reader reader(file, where);
  if (object.kind != JsonValue::Kind::kObject) reader.fail("", "expected an object, got " + kind_name(object.kind));
  ClipTextConfig config;
  config.pad_token_id = 1;  // CLIPTextConfig's default when the key is absent
  for (const JsonMember& member : object.members) {
    const std::string& key = member.key;
    const JsonValue& value = member.value;
    if (key == "vocab_size") {
      config.vocab_size = reader.integer(key, value);
    } else if (key == "hidden_size") {
      config.hidden_size = reader.integer(key, value);
    } else if (key == "intermediate_size") {
      config.intermediate_size = reader.integer(key, value);
    } else if (key == "num_hidden_layers") {
      config.num_hidden_layers = reader.integer(key, value);
    } else if (key == "num_attention_heads") {
      config.num_attention_heads = reader.integer(key, value);
    } else if (key == "max_position_embeddings") {
      config.max_position_embeddings = reader.integer(key, value);
    } else if (key == "hidden_act") {
      config.hidden_act = reader.string(key, value);
    } else if (key == "layer_norm_eps") {
      config.layer_norm_eps = reader.number(key, value);
    } else if (key == "bos_token_id") {
      config.bos_token_id = reader.optional_integer(key, value);
    } else if (key == "eos_token_id") {
      config.eos_token_id = reader.optional_integer(key, value);
    } else if (key == "pad_token_id") {
      config.pad_token_id = reader.optional_integer(key, value);
    } else if (key == "model_type") {
      const std::string type = reader.string(key, value);
      if (type != "clip_text_model")
        reader.fail(key, "\"model_type\" must be \"clip_text_model\", got \"" + type + "\"");
    } else if (!contains(kIgnoredHuggingFaceKeys, key)) {
      reader.fail(key, "unknown key \"" + key + "\" (it may change the architecture; this reader does not support it)");
    }
  }
  try {
    config.validate();
  } catch (const ConfigError& error) {
    reader.fail(error.field(), error.what());
  }
  return config;
}

}  // namespace

void ClipTextConfig::validate() const {
  auto fail = [](const char* field, const std::string& what) {
    throw ConfigError("clip text config: " + what, "", field);
  };
  auto within = [&](const char* name, int64_t value, int64_t highest) {
    if (value <= 0 || value > highest) {
      fail(name,
           std::string(name) + " must be within 1.." + std::to_string(highest) + ", got " + std::to_string(value));
    }
  };
  within("vocab_size", vocab_size, kMaxTableEntries);
  within("hidden_size", hidden_size, kMaxChannels);
  within("intermediate_size", intermediate_size, kMaxChannels);
  within("num_hidden_layers", num_hidden_layers, kMaxDepth);
  within("num_attention_heads", num_attention_heads, kMaxChannels);
  within("max_position_embeddings", max_position_embeddings, kMaxSide);
  if (hidden_size % num_attention_heads != 0) {
    fail("hidden_size", "hidden_size " + std::to_string(hidden_size) + " must be divisible by num_attention_heads " +
                            std::to_string(num_attention_heads));
  }
  if (hidden_act != "quick_gelu" && hidden_act != "gelu") {
    fail("hidden_act", "hidden_act must be \"quick_gelu\" or \"gelu\", got \"" + hidden_act + "\"");
  }
  if (!(layer_norm_eps > 0.0) || !std::isfinite(layer_norm_eps))
    fail("layer_norm_eps", "layer_norm_eps must be positive");
  for (const auto& [name, id] : {std::pair{"bos_token_id", bos_token_id}, std::pair{"eos_token_id", eos_token_id},
                                 std::pair{"pad_token_id", pad_token_id}}) {
    if (id && (*id < 0 || *id >= vocab_size)) {
      fail(name, std::string(name) + " " + std::to_string(*id) + " is outside the vocabulary [0, " +
                     std::to_string(vocab_size) + ")");
    }
  }
}

ClipTextConfig ClipTextConfig::from_hugging_face_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot open", path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError(path + ": read error", path);
  JsonValue root;
  try {
    root = parse_json(text.str(), path);
  } catch (const WeightsError& error) {
    // The JSON parser is the safetensors header's; a syntax error here is the config's.
    throw ConfigError(error.what(), path);
  }
  const Reader reader(path, path);
  if (root.kind != JsonValue::Kind::kObject) reader.fail("", "expected a JSON object, got " + kind_name(root.kind));

  const JsonValue* text_config = root.find("text_config");
  const JsonValue* text_config_dict = root.find("text_config_dict");
  const bool nested = text_config != nullptr || text_config_dict != nullptr;
  if (!nested) return read_text_config(root, path, path);

  // A full CLIPConfig: check its own keys, then read the text tower's.
  for (const JsonMember& member : root.members) {
    const std::string& key = member.key;
    if (key == "text_config" || key == "text_config_dict") continue;
    if (key == "model_type") {
      const std::string type = reader.string(key, member.value);
      if (type != "clip")
        reader.fail(key, "\"model_type\" of a config with \"text_config\" must be \"clip\", got \"" + type + "\"");
    } else if (!contains(kIgnoredHuggingFaceKeys, key) && !contains(kIgnoredClipModelKeys, key)) {
      reader.fail(key, "unknown key \"" + key + "\" (it may change the architecture; this reader does not support it)");
    }
  }
  const auto is_object = [](const JsonValue* value) {
    return value != nullptr && value->kind == JsonValue::Kind::kObject;
  };
  for (const char* key : {"text_config", "text_config_dict"}) {
    const JsonValue* value = root.find(key);
    if (value != nullptr && value->kind != JsonValue::Kind::kNull && value->kind != JsonValue::Kind::kObject) {
      reader.fail(key, std::string("\"") + key + "\" must be an object or null, got " + kind_name(value->kind));
    }
  }
  if (!is_object(text_config) && !is_object(text_config_dict)) {
    reader.fail("text_config", "neither \"text_config\" nor \"text_config_dict\" is an object");
  }
  if (!is_object(text_config_dict)) return read_text_config(*text_config, path, path + ": text_config");
  const ClipTextConfig from_dict = read_text_config(*text_config_dict, path, path + ": text_config_dict");
  if (is_object(text_config) && read_text_config(*text_config, path, path + ": text_config") != from_dict) {
    reader.fail("text_config", "\"text_config\" and \"text_config_dict\" describe different text models");
  }
  return from_dict;
}

ClipTextConfig ClipTextConfig::known(const std::string& name) {
  ClipTextConfig config;  // the defaults are ViT-B/32's text tower
  if (name == "openai/clip-vit-base-patch32" || name == "vinid/plip") return config;
  if (name == "openai/clip-vit-large-patch14") {
    config.hidden_size = 768;
    config.intermediate_size = 3072;
    config.num_attention_heads = 12;
    return config;
  }
  throw ConfigError("clip text config: unknown model name \"" + name +
                        "\" (known: openai/clip-vit-base-patch32, openai/clip-vit-large-patch14, vinid/plip)",
                    "", "version");
}

bool ClipTextConfig::operator==(const ClipTextConfig& other) const {
  return vocab_size == other.vocab_size && hidden_size == other.hidden_size &&
         intermediate_size == other.intermediate_size && num_hidden_layers == other.num_hidden_layers &&
         num_attention_heads == other.num_attention_heads && max_position_embeddings == other.max_position_embeddings &&
         hidden_act == other.hidden_act && layer_norm_eps == other.layer_norm_eps &&
         bos_token_id == other.bos_token_id && eos_token_id == other.eos_token_id && pad_token_id == other.pad_token_id;
}

}  // namespace tessera::model
