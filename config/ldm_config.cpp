#include "config/ldm_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/number_text.h"
#include "config/ldm_limits.h"

namespace tessera::config {
namespace {

constexpr std::string_view kLatentDiffusion = "ldm.models.diffusion.ddpm.LatentDiffusion";
constexpr std::string_view kUNetModel = "ldm.modules.diffusionmodules.openaimodel.UNetModel";
constexpr std::string_view kFrozenClip = "ldm.modules.encoders.modules.FrozenCLIPEmbedder";
constexpr std::string_view kUnconditional = "__is_unconditional__";
constexpr std::string_view kVqTargets[] = {"ldm.models.autoencoder.VQModelInterface", "ldm.models.autoencoder.VQModel"};
constexpr std::string_view kKlTarget = "ldm.models.autoencoder.AutoencoderKL";
constexpr std::string_view kClipVersions[] = {"openai/clip-vit-base-patch32", "openai/clip-vit-large-patch14",
                                              "vinid/plip"};

// Keys accepted and ignored because they change neither the network nor how
// it samples. Each list names the upstream code that reads the keys.
//
// The top level of a training config: the data module and PyTorch
// Lightning's trainer settings (main.py).
constexpr std::string_view kIgnoredRootKeys[] = {"data", "lightning"};
// model.params of LatentDiffusion / DDPM (ldm/models/diffusion/ddpm.py):
// logging (monitor, log_every_t), initialisation from another checkpoint
// (ckpt_path, ignore_keys, load_only_unet), the training loss settings
// tessera trains with at upstream's defaults (loss_type l2, l_simple_weight 1,
// original_elbo_weight 0, no learned logvar), and training-only conditioning
// settings (num_timesteps_cond only shortens the conditioning schedule inside
// p_losses; cond_stage_trainable).
constexpr std::string_view kIgnoredDiffusionKeys[] = {
    "ckpt_path",          "cond_stage_trainable", "ignore_keys", "l_simple_weight", "learn_logvar",
    "load_only_unet",     "log_every_t",          "logvar_init", "loss_type",       "monitor",
    "num_timesteps_cond", "original_elbo_weight"};
// model: a stand-alone first stage's learning rate (tessera train-vae takes
// its own).
constexpr std::string_view kIgnoredFirstStageModelKeys[] = {"base_learning_rate"};
// first-stage params (ldm/models/autoencoder.py, VQModel and AutoencoderKL):
// the training loss (lossconfig), logging and data keys (monitor, image_key,
// colorize_nlabels), initialisation (ckpt_path, ignore_keys), training
// schedules (scheduler_config, lr_g_factor, batch_resize_range), EMA used
// only for validation images (use_ema), and the shape of returned indices
// (sane_index_shape).
constexpr std::string_view kIgnoredFirstStageKeys[] = {
    "batch_resize_range", "ckpt_path", "colorize_nlabels", "ignore_keys",      "image_key", "lossconfig",
    "lr_g_factor",        "monitor",   "sane_index_shape", "scheduler_config", "use_ema"};
// UNetModel params (ldm/modules/diffusionmodules/openaimodel.py): gradient
// checkpointing and the compute dtype.
constexpr std::string_view kIgnoredUNetKeys[] = {"use_checkpoint", "use_fp16"};
// FrozenCLIPEmbedder params (ldm/modules/encoders/modules.py): where it runs
// and whether it trains.
constexpr std::string_view kIgnoredCondStageKeys[] = {"device", "freeze"};

template <size_t N>
bool contains(const std::string_view (&list)[N], std::string_view value) {
  return std::find(std::begin(list), std::end(list), value) != std::end(list);
}

template <size_t N>
std::string join(const std::string_view (&list)[N]) {
  std::string out;
  for (std::string_view item : list) out += (out.empty() ? "" : ", ") + std::string(item);
  return out;
}

std::string child_path(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

// Plain scalars resolve as YAML 1.1 (PyYAML / OmegaConf) would; a quoted
// scalar is always a string.
enum class ScalarKind { kNull, kBool, kInt, kFloat, kString };

const std::regex& int_pattern() {
  static const std::regex pattern("[-+]?[0-9]+");
  return pattern;
}
const std::regex& float_pattern() {
  static const std::regex pattern("[-+]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][-+]?[0-9]+)?");
  return pattern;
}

bool is_true_word(const std::string& s) { return s == "true" || s == "True" || s == "TRUE"; }
bool is_false_word(const std::string& s) { return s == "false" || s == "False" || s == "FALSE"; }

ScalarKind scalar_kind(const YAML::Node& node) {
  if (node.IsNull()) return ScalarKind::kNull;
  if (node.Tag() == "!") return ScalarKind::kString;
  const std::string& s = node.Scalar();
  if (s == "~" || s == "null" || s == "Null" || s == "NULL") return ScalarKind::kNull;
  static const std::set<std::string> yaml11_bools = {"yes", "Yes", "YES", "no",  "No",  "NO",
                                                     "on",  "On",  "ON",  "off", "Off", "OFF"};
  if (is_true_word(s) || is_false_word(s) || yaml11_bools.count(s) != 0) return ScalarKind::kBool;
  if (std::regex_match(s, int_pattern())) return ScalarKind::kInt;
  if (std::regex_match(s, float_pattern())) return ScalarKind::kFloat;
  return ScalarKind::kString;
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      if (scalar_kind(node) == ScalarKind::kNull) return "null";
      return "'" + node.Scalar() + "'";
    default:
      return "null";
  }
}

class Reader;

// One YAML mapping being read: typed getters mark keys as read, and finish()
// rejects every key neither read nor listed as ignored.
class Block {
 public:
  Block(const Reader& reader, const YAML::Node& node, std::string path);

  const std::string& path() const { return path_; }
  bool has(const std::string& key) const { return entries_.count(key) != 0; }

  [[noreturn]] void fail(const std::string& key, const std::string& what) const;
  [[noreturn]] void fail_here(const std::string& what) const;

  // nullopt when absent; the node must not be used for another getter.
  std::optional<YAML::Node> take(const std::string& key) {
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    read_.insert(key);
    return it->second;
  }
  YAML::Node take_required(const std::string& key) {
    std::optional<YAML::Node> node = take(key);
    if (!node) fail(key, "missing required key");
    return *node;
  }

  // Every integer key is read with its range (config/ldm_limits.h).
  std::optional<int64_t> opt_int(const std::string& key, int64_t lowest, int64_t highest) {
    std::optional<YAML::Node> node = take(key);
    if (!node) return std::nullopt;
    return to_int(*node, child_path(path_, key), lowest, highest);
  }
  int64_t req_int(const std::string& key, int64_t lowest, int64_t highest) {
    return to_int(take_required(key), child_path(path_, key), lowest, highest);
  }
  // An integer or null (upstream's None): nullopt for null or absent.
  std::optional<int64_t> nullable_int(const std::string& key, int64_t lowest, int64_t highest) {
    std::optional<YAML::Node> node = take(key);
    if (!node || scalar_kind_of(*node, key) == ScalarKind::kNull) return std::nullopt;
    return to_int(*node, child_path(path_, key), lowest, highest);
  }
  std::optional<double> opt_double(const std::string& key) {
    std::optional<YAML::Node> node = take(key);
    if (!node) return std::nullopt;
    return to_double(*node, child_path(path_, key));
  }
  std::optional<bool> opt_bool(const std::string& key) {
    std::optional<YAML::Node> node = take(key);
    if (!node) return std::nullopt;
    return to_bool(*node, child_path(path_, key));
  }
  std::optional<std::string> opt_string(const std::string& key) {
    std::optional<YAML::Node> node = take(key);
    if (!node) return std::nullopt;
    return to_string(*node, child_path(path_, key));
  }
  std::string req_string(const std::string& key) { return to_string(take_required(key), child_path(path_, key)); }
  std::optional<std::string> nullable_string(const std::string& key) {
    std::optional<YAML::Node> node = take(key);
    if (!node || scalar_kind_of(*node, key) == ScalarKind::kNull) return std::nullopt;
    return to_string(*node, child_path(path_, key));
  }
  // A list of at most kMaxDepth integers, each within its range.
  std::optional<std::vector<int64_t>> opt_int_list(const std::string& key, int64_t lowest, int64_t highest) {
    std::optional<YAML::Node> node = take(key);
    if (!node) return std::nullopt;
    return to_int_list(*node, child_path(path_, key), lowest, highest);
  }
  std::vector<int64_t> req_int_list(const std::string& key, int64_t lowest, int64_t highest) {
    return to_int_list(take_required(key), child_path(path_, key), lowest, highest);
  }
  Block req_block(const std::string& key);
  // `node`, taken from this block's `key`, read as a mapping.
  Block block_of(const YAML::Node& node, const std::string& key) const;
  std::optional<Block> opt_block(const std::string& key);

  // Keys upstream accepts but this model supports only at upstream's
  // default: absent or equal to it.
  void only_default_bool(const std::string& key, bool expected) {
    std::optional<bool> value = opt_bool(key);
    if (value && *value != expected) fail(key, std::string("only ") + (expected ? "true" : "false") + " is supported");
  }
  void only_null(const std::string& key) {
    std::optional<YAML::Node> node = take(key);
    if (node && scalar_kind_of(*node, key) != ScalarKind::kNull)
      fail(key, "only null is supported, got " + describe(*node));
  }

  template <size_t N>
  void finish(const std::string_view (&ignored)[N]) {
    finish(std::begin(ignored), std::end(ignored));
  }
  void finish() { finish(nullptr, nullptr); }

 private:
  void finish(const std::string_view* ignored_begin, const std::string_view* ignored_end) const {
    for (const auto& [key, node] : entries_) {
      if (read_.count(key) == 0 && std::find(ignored_begin, ignored_end, key) == ignored_end) fail(key, "unknown key");
    }
  }
  ScalarKind scalar_kind_of(const YAML::Node& node, const std::string& key) const;
  int64_t to_int(const YAML::Node& node, const std::string& path, int64_t lowest, int64_t highest) const;
  double to_double(const YAML::Node& node, const std::string& path) const;
  bool to_bool(const YAML::Node& node, const std::string& path) const;
  std::string to_string(const YAML::Node& node, const std::string& path) const;
  std::vector<int64_t> to_int_list(const YAML::Node& node, const std::string& path, int64_t lowest,
                                   int64_t highest) const;

  const Reader* reader_;
  std::string path_;
  std::map<std::string, YAML::Node> entries_;
  std::set<std::string> read_;
};

class Reader {
 public:
  explicit Reader(std::string name) : name_(std::move(name)) {}

  [[noreturn]] void fail(const std::string& path, const std::string& what) const {
    throw Error(name_ + ": " + (path.empty() ? "" : path + ": ") + what);
  }

  // Scalars with an explicit tag (!!int, !custom) are rejected rather than
  // guessed at.
  ScalarKind kind(const YAML::Node& node, const std::string& path) const {
    if (node.IsScalar() && node.Tag() != "?" && node.Tag() != "!") fail(path, "unsupported YAML tag " + node.Tag());
    return scalar_kind(node);
  }

  int64_t to_int(const YAML::Node& node, const std::string& path) const {
    if (!node.IsScalar() || kind(node, path) != ScalarKind::kInt)
      fail(path, "expected an integer, got " + describe(node));
    const std::string& s = node.Scalar();
    const char* begin = s.data() + (s[0] == '+' ? 1 : 0);
    int64_t value = 0;
    const auto [end, ec] = std::from_chars(begin, s.data() + s.size(), value);
    if (ec != std::errc() || end != s.data() + s.size()) fail(path, "integer '" + s + "' is out of range");
    return value;
  }

  int64_t to_int(const YAML::Node& node, const std::string& path, int64_t lowest, int64_t highest) const {
    const int64_t value = to_int(node, path);
    if (value < lowest || value > highest) {
      fail(path, "must be within " + std::to_string(lowest) + ".." + std::to_string(highest) + ", got " +
                     std::to_string(value));
    }
    return value;
  }

  double to_double(const YAML::Node& node, const std::string& path) const {
    const ScalarKind k = node.IsScalar() ? kind(node, path) : ScalarKind::kString;
    if (!node.IsScalar() || (k != ScalarKind::kInt && k != ScalarKind::kFloat)) {
      fail(path, "expected a number, got " + describe(node));
    }
    const std::string& s = node.Scalar();
    const char* begin = s.data() + (s[0] == '+' ? 1 : 0);
    double value = 0.0;
    const auto [end, ec] = std::from_chars(begin, s.data() + s.size(), value);
    if (ec != std::errc() || end != s.data() + s.size()) fail(path, "number '" + s + "' is out of range");
    return value;
  }

  bool to_bool(const YAML::Node& node, const std::string& path) const {
    if (node.IsScalar() && kind(node, path) == ScalarKind::kBool) {
      if (is_true_word(node.Scalar())) return true;
      if (is_false_word(node.Scalar())) return false;
      fail(path, "write booleans as true or false, got '" + node.Scalar() + "'");
    }
    fail(path, "expected true or false, got " + describe(node));
  }

  std::string to_string(const YAML::Node& node, const std::string& path) const {
    if (!node.IsScalar() || kind(node, path) != ScalarKind::kString)
      fail(path, "expected a string, got " + describe(node));
    return node.Scalar();
  }

  std::vector<int64_t> to_int_list(const YAML::Node& node, const std::string& path, int64_t lowest,
                                   int64_t highest) const {
    if (!node.IsSequence()) fail(path, "expected a list of integers, got " + describe(node));
    if (int64_t(node.size()) > kMaxDepth) {
      fail(path, "has " + std::to_string(node.size()) + " entries, more than " + std::to_string(kMaxDepth));
    }
    std::vector<int64_t> values;
    for (size_t i = 0; i < node.size(); ++i) {
      values.push_back(to_int(node[i], path + "[" + std::to_string(i) + "]", lowest, highest));
    }
    return values;
  }

 private:
  std::string name_;
};

Block::Block(const Reader& reader, const YAML::Node& node, std::string path)
    : reader_(&reader), path_(std::move(path)) {
  if (!node.IsMap()) reader_->fail(path_, "expected a mapping, got " + describe(node));
  for (const auto& entry : node) {
    const YAML::Node& key = entry.first;
    if (!key.IsScalar()) reader_->fail(path_, "mapping keys must be strings, got " + describe(key));
    if (!entries_.emplace(key.Scalar(), entry.second).second) fail(key.Scalar(), "duplicate key");
  }
}

void Block::fail(const std::string& key, const std::string& what) const { reader_->fail(child_path(path_, key), what); }
void Block::fail_here(const std::string& what) const { reader_->fail(path_, what); }
ScalarKind Block::scalar_kind_of(const YAML::Node& node, const std::string& key) const {
  return node.IsScalar() ? reader_->kind(node, child_path(path_, key))
                         : (node.IsNull() ? ScalarKind::kNull : ScalarKind::kString);
}
int64_t Block::to_int(const YAML::Node& node, const std::string& path, int64_t lowest, int64_t highest) const {
  return reader_->to_int(node, path, lowest, highest);
}
double Block::to_double(const YAML::Node& node, const std::string& path) const {
  return reader_->to_double(node, path);
}
bool Block::to_bool(const YAML::Node& node, const std::string& path) const { return reader_->to_bool(node, path); }
std::string Block::to_string(const YAML::Node& node, const std::string& path) const {
  return reader_->to_string(node, path);
}
std::vector<int64_t> Block::to_int_list(const YAML::Node& node, const std::string& path, int64_t lowest,
                                        int64_t highest) const {
  return reader_->to_int_list(node, path, lowest, highest);
}
Block Block::req_block(const std::string& key) { return Block(*reader_, take_required(key), child_path(path_, key)); }
Block Block::block_of(const YAML::Node& node, const std::string& key) const {
  return Block(*reader_, node, child_path(path_, key));
}
std::optional<Block> Block::opt_block(const std::string& key) {
  std::optional<YAML::Node> node = take(key);
  if (!node) return std::nullopt;
  return Block(*reader_, *node, child_path(path_, key));
}

// Runs a model config's validate(), reporting its complaint at `block`.
template <typename Config>
void validate_at(const Block& block, const Config& config) {
  try {
    config.validate();
  } catch (const model::ConfigError& e) {
    block.fail_here(e.what());
  }
}

void require_positive(Block& block, const std::string& key, double value) {
  if (!(value > 0.0)) block.fail(key, "must be positive");
}

void require_fraction(Block& block, const std::string& key, double value) {
  if (!(value >= 0.0 && value <= 1.0)) block.fail(key, "must be within [0, 1]");
}

// Each level's width, `channels` × its multiplier, within kMaxChannels.
void check_level_widths(Block& block, const std::string& key, int64_t channels, const std::vector<int64_t>& mults) {
  for (size_t level = 0; level < mults.size(); ++level) {
    if (mults[level] > kMaxChannels / channels) {
      block.fail(key + "[" + std::to_string(level) + "]",
                 "gives level " + std::to_string(level) + " " + std::to_string(channels) + " × " +
                     std::to_string(mults[level]) + " channels, more than " + std::to_string(kMaxChannels));
    }
  }
}

// The ddconfig / embed_dim / n_embed of VQModel, VQModelInterface or
// AutoencoderKL. Upstream's Encoder and Decoder take ch, out_ch,
// num_res_blocks, attn_resolutions, in_channels, resolution and z_channels
// without defaults; ch_mult defaults to (1,2,4,8), double_z to true.
model::AutoencoderConfig read_first_stage(Block& params, model::AutoencoderKind kind) {
  model::AutoencoderConfig config;
  config.kind = kind;
  config.embed_dim = params.req_int("embed_dim", 1, kMaxChannels);
  if (kind == model::AutoencoderKind::kVq) {
    config.n_embed = params.req_int("n_embed", 1, kMaxCodebookSize);
    // VectorQuantizer2's remap rewrites the codebook indices.
    params.only_null("remap");
  }
  Block dd = params.req_block("ddconfig");
  config.ch = dd.req_int("ch", 1, kMaxChannels);
  config.out_ch = dd.req_int("out_ch", 1, kMaxChannels);
  config.num_res_blocks = dd.req_int("num_res_blocks", 1, kMaxDepth);
  config.attn_resolutions = dd.req_int_list("attn_resolutions", 1, kMaxSide);
  config.in_channels = dd.req_int("in_channels", 1, kMaxChannels);
  config.resolution = dd.req_int("resolution", 1, kMaxSide);
  config.z_channels = dd.req_int("z_channels", 1, kMaxChannels);
  config.ch_mult = dd.opt_int_list("ch_mult", 1, kMaxChannels).value_or(std::vector<int64_t>{1, 2, 4, 8});
  check_level_widths(dd, "ch_mult", config.ch, config.ch_mult);
  config.double_z = dd.opt_bool("double_z").value_or(true);
  config.dropout = dd.opt_double("dropout").value_or(0.0);
  require_fraction(dd, "dropout", config.dropout);
  // Encoder/Decoder options this model implements only at their defaults.
  dd.only_default_bool("resamp_with_conv", true);
  dd.only_default_bool("give_pre_end", false);
  dd.only_default_bool("tanh_out", false);
  dd.only_default_bool("use_linear_attn", false);
  if (std::optional<std::string> attn_type = dd.opt_string("attn_type"); attn_type && *attn_type != "vanilla") {
    dd.fail("attn_type", "only 'vanilla' is supported, got '" + *attn_type + "'");
  }
  dd.finish();
  // A VQ model's quant_conv reads z_channels, so its encoder must not emit
  // the doubled (mean, log-variance) output.
  if (kind == model::AutoencoderKind::kVq && config.double_z) dd.fail("double_z", "a VQ model needs double_z false");
  params.finish(kIgnoredFirstStageKeys);
  validate_at(params, config);
  return config;
}

std::optional<model::AutoencoderKind> first_stage_kind(const std::string& target) {
  if (contains(kVqTargets, target)) return model::AutoencoderKind::kVq;
  if (target == kKlTarget) return model::AutoencoderKind::kKl;
  return std::nullopt;
}

std::string first_stage_targets() { return join(kVqTargets) + ", " + std::string(kKlTarget); }

// A {target, params} block; params is nullopt when absent and not required.
struct TargetBlock {
  std::string target;
  std::optional<Block> params;
};

TargetBlock read_target_block(Block& block, bool params_required) {
  TargetBlock out;
  out.target = block.req_string("target");
  out.params = params_required ? std::optional<Block>(block.req_block("params")) : block.opt_block("params");
  return out;
}

model::UNetConfig read_unet(Block& config_block) {
  TargetBlock tb = read_target_block(config_block, true);
  if (tb.target != kUNetModel) {
    config_block.fail("target", "unknown target '" + tb.target + "' (expected " + std::string(kUNetModel) + ")");
  }
  config_block.finish();
  Block& p = *tb.params;
  model::UNetConfig config;
  config.image_size = p.req_int("image_size", 1, kMaxSide);
  config.in_channels = p.req_int("in_channels", 1, kMaxChannels);
  config.model_channels = p.req_int("model_channels", 1, kMaxChannels);
  config.out_channels = p.req_int("out_channels", 1, kMaxChannels);
  config.num_res_blocks = p.req_int("num_res_blocks", 1, kMaxDepth);
  config.attention_resolutions = p.req_int_list("attention_resolutions", 1, kMaxSide);
  config.dropout = p.opt_double("dropout").value_or(0.0);
  require_fraction(p, "dropout", config.dropout);
  config.channel_mult = p.opt_int_list("channel_mult", 1, kMaxChannels).value_or(std::vector<int64_t>{1, 2, 4, 8});
  check_level_widths(p, "channel_mult", config.model_channels, config.channel_mult);
  config.conv_resample = p.opt_bool("conv_resample").value_or(true);
  // Upstream's UNet has 1-, 2- and 3-D variants; UNetConfig::validate takes 2.
  config.dims = p.opt_int("dims", 1, 3).value_or(2);
  // -1: derived from the other of num_heads and num_head_channels.
  config.num_heads = p.opt_int("num_heads", -1, kMaxChannels).value_or(-1);
  config.num_head_channels = p.opt_int("num_head_channels", -1, kMaxChannels).value_or(-1);
  config.num_heads_upsample = p.opt_int("num_heads_upsample", -1, kMaxChannels).value_or(-1);
  config.use_scale_shift_norm = p.opt_bool("use_scale_shift_norm").value_or(false);
  config.resblock_updown = p.opt_bool("resblock_updown").value_or(false);
  config.use_spatial_transformer = p.opt_bool("use_spatial_transformer").value_or(false);
  config.transformer_depth = p.opt_int("transformer_depth", 1, kMaxDepth).value_or(1);
  config.context_dim = p.nullable_int("context_dim", 1, kMaxChannels).value_or(-1);
  config.legacy = p.opt_bool("legacy").value_or(true);
  // Upstream options (CompVis, and Stable Diffusion 2's additions) that this
  // UNet implements only at their defaults.
  p.only_null("num_classes");
  p.only_null("n_embed");
  p.only_default_bool("use_new_attention_order", false);
  p.only_default_bool("use_linear_in_transformer", false);
  p.only_default_bool("disable_middle_self_attn", false);
  p.only_null("disable_self_attentions");
  p.only_null("num_attention_blocks");
  p.finish(kIgnoredUNetKeys);
  validate_at(p, config);
  return config;
}

// FrozenCLIPEmbedder(version="openai/clip-vit-large-patch14", max_length=77).
CondStageConfig read_cond_stage(Block& config_block) {
  TargetBlock tb = read_target_block(config_block, false);
  if (tb.target != kFrozenClip) {
    config_block.fail("target", "unknown target '" + tb.target + "' (expected " + std::string(kFrozenClip) + " or " +
                                    std::string(kUnconditional) + ")");
  }
  config_block.finish();
  CondStageConfig config;
  config.target = tb.target;
  config.version = "openai/clip-vit-large-patch14";
  if (tb.params) {
    Block& p = *tb.params;
    config.version = p.opt_string("version").value_or(config.version);
    if (!contains(kClipVersions, config.version)) {
      p.fail("version", "unknown CLIP version '" + config.version + "' (expected one of " + join(kClipVersions) + ")");
    }
    config.max_length = p.opt_int("max_length", 77, 154).value_or(77);
    if (config.max_length != 77 && config.max_length != 154) {
      p.fail("max_length", "must be 77 or 154 (PathLDM's two windows), got " + std::to_string(config.max_length));
    }
    p.finish(kIgnoredCondStageKeys);
  }
  config.text = model::ClipTextConfig::known(config.version);
  return config;
}

void read_latent_diffusion(Block& p, LdmConfig& out) {
  DiffusionParams& d = out.diffusion;
  d.timesteps = p.opt_int("timesteps", 1, kMaxTimesteps).value_or(d.timesteps);
  d.beta_schedule = p.opt_string("beta_schedule").value_or(d.beta_schedule);
  constexpr std::string_view kSchedules[] = {"linear", "cosine", "sqrt_linear", "sqrt"};
  if (!contains(kSchedules, d.beta_schedule)) {
    p.fail("beta_schedule", "unknown schedule '" + d.beta_schedule + "' (expected one of " + join(kSchedules) + ")");
  }
  d.linear_start = p.opt_double("linear_start").value_or(d.linear_start);
  d.linear_end = p.opt_double("linear_end").value_or(d.linear_end);
  d.cosine_s = p.opt_double("cosine_s").value_or(d.cosine_s);
  require_positive(p, "linear_start", d.linear_start);
  if (!(d.linear_end >= d.linear_start && d.linear_end < 1.0)) p.fail("linear_end", "must be in [linear_start, 1)");
  require_positive(p, "cosine_s", d.cosine_s);
  d.v_posterior = p.opt_double("v_posterior").value_or(d.v_posterior);
  require_fraction(p, "v_posterior", d.v_posterior);
  d.clip_denoised = p.opt_bool("clip_denoised").value_or(d.clip_denoised);
  const std::string parameterization = p.opt_string("parameterization").value_or("eps");
  if (parameterization == "eps") {
    d.parameterization = Parameterization::kEps;
  } else if (parameterization == "v") {
    d.parameterization = Parameterization::kV;
  } else {
    p.fail("parameterization", "unsupported parameterization '" + parameterization + "' (expected eps or v)");
  }
  d.scale_factor = p.opt_double("scale_factor").value_or(d.scale_factor);
  require_positive(p, "scale_factor", d.scale_factor);
  d.scale_by_std = p.opt_bool("scale_by_std").value_or(d.scale_by_std);
  d.first_stage_key = p.opt_string("first_stage_key").value_or(d.first_stage_key);
  d.cond_stage_key = p.opt_string("cond_stage_key").value_or(d.cond_stage_key);
  d.image_size = p.opt_int("image_size", 1, kMaxSide).value_or(d.image_size);
  d.channels = p.opt_int("channels", 1, kMaxChannels).value_or(d.channels);
  const bool concat_mode = p.opt_bool("concat_mode").value_or(true);
  std::optional<std::string> conditioning_key = p.nullable_string("conditioning_key");
  constexpr std::string_view kConditioningKeys[] = {"crossattn", "concat", "hybrid", "adm"};
  if (conditioning_key && !contains(kConditioningKeys, *conditioning_key)) {
    p.fail("conditioning_key", "unknown conditioning_key '" + *conditioning_key + "' (expected null or one of " +
                                   join(kConditioningKeys) + ")");
  }
  // Options that change what the denoiser is conditioned on.
  p.only_default_bool("use_positional_encodings", false);
  p.only_null("cond_stage_forward");

  if (std::optional<Block> unet = p.opt_block("unet_config")) out.unet = read_unet(*unet);
  if (std::optional<Block> first = p.opt_block("first_stage_config")) {
    TargetBlock tb = read_target_block(*first, true);
    const std::optional<model::AutoencoderKind> kind = first_stage_kind(tb.target);
    if (!kind)
      first->fail("target", "unknown target '" + tb.target + "' (expected one of " + first_stage_targets() + ")");
    first->finish();
    out.first_stage = read_first_stage(*tb.params, *kind);
    out.first_stage->scale_factor = d.scale_factor;
  }
  if (std::optional<YAML::Node> cond = p.take("cond_stage_config")) {
    if (cond->IsScalar() && scalar_kind(*cond) == ScalarKind::kString) {
      if (cond->Scalar() != kUnconditional) {
        p.fail("cond_stage_config",
               "unknown value '" + cond->Scalar() + "' (expected " + std::string(kUnconditional) + " or a mapping)");
      }
      d.unconditional = true;
    } else {
      Block block = p.block_of(*cond, "cond_stage_config");
      out.cond_stage = read_cond_stage(block);
    }
  }
  p.finish(kIgnoredDiffusionKeys);
  d.conditioning_key = d.unconditional ? "" : conditioning_key.value_or(concat_mode ? "concat" : "crossattn");
}

std::vector<double> double_list(const Reader& reader, const YAML::Node& node, const std::string& path) {
  if (!node.IsSequence()) reader.fail(path, "expected a list of numbers, got " + describe(node));
  std::vector<double> values;
  for (size_t i = 0; i < node.size(); ++i)
    values.push_back(reader.to_double(node[i], path + "[" + std::to_string(i) + "]"));
  return values;
}

// model.params.scheduler_config: upstream's LambdaLinearScheduler.
LambdaLinearSchedule read_schedule(const Reader& reader, Block& config_block) {
  TargetBlock tb = read_target_block(config_block, true);
  if (tb.target != "ldm.lr_scheduler.LambdaLinearScheduler") {
    config_block.fail("target",
                      "unsupported scheduler '" + tb.target + "' (expected ldm.lr_scheduler.LambdaLinearScheduler)");
  }
  config_block.finish();
  Block& p = *tb.params;
  LambdaLinearSchedule s;
  s.warm_up_steps = p.req_int_list("warm_up_steps", 0, kMaxScheduleSteps);
  s.cycle_lengths = p.req_int_list("cycle_lengths", 1, kMaxScheduleSteps);
  const auto list = [&](const char* key) {
    return double_list(reader, p.take_required(key), child_path(p.path(), key));
  };
  s.f_start = list("f_start");
  s.f_max = list("f_max");
  s.f_min = list("f_min");
  const size_t n = s.cycle_lengths.size();
  if (n == 0) p.fail("cycle_lengths", "must not be empty");
  if (s.warm_up_steps.size() != n || s.f_start.size() != n || s.f_max.size() != n || s.f_min.size() != n) {
    p.fail_here("warm_up_steps, cycle_lengths, f_start, f_max and f_min must have one entry per cycle");
  }
  p.opt_int("verbosity_interval", 0, kMaxScheduleSteps);  // logging only
  p.finish();
  return s;
}

void read_training(Block& t, TrainingParams& out) {
  const auto steps = [&](const char* key, int64_t lowest, int64_t fallback) {
    return t.opt_int(key, lowest, kMaxScheduleSteps).value_or(fallback);
  };
  out.batch_size = t.opt_int("batch_size", 1, kMaxBatchSize).value_or(out.batch_size);
  out.accumulate_grad_batches =
      t.opt_int("accumulate_grad_batches", 1, kMaxBatchSize).value_or(out.accumulate_grad_batches);
  out.gradient_clip_val = t.opt_double("gradient_clip_val").value_or(out.gradient_clip_val);
  if (out.gradient_clip_val < 0) t.fail("gradient_clip_val", "must not be negative");
  out.ema_decay = t.opt_double("ema_decay").value_or(out.ema_decay);
  if (!(out.ema_decay > 0 && out.ema_decay < 1)) t.fail("ema_decay", "must be within (0, 1)");
  out.cfg_dropout = t.opt_double("cfg_dropout").value_or(out.cfg_dropout);
  if (!(out.cfg_dropout >= 0 && out.cfg_dropout <= 1)) t.fail("cfg_dropout", "must be within [0, 1]");
  out.flip = t.opt_bool("flip").value_or(out.flip);
  out.weight_decay = t.opt_double("weight_decay").value_or(out.weight_decay);
  if (out.weight_decay < 0) t.fail("weight_decay", "must not be negative");
  out.gradient_checkpointing = t.opt_bool("gradient_checkpointing").value_or(out.gradient_checkpointing);
  out.log_every = steps("log_every", 1, out.log_every);
  out.checkpoint_every = steps("checkpoint_every", 1, out.checkpoint_every);
  out.sample_every = steps("sample_every", 0, out.sample_every);  // 0 turns sample grids off
  out.sample_steps = t.opt_int("sample_steps", 1, kMaxTimesteps).value_or(out.sample_steps);
  out.sample_guidance = t.opt_double("sample_guidance").value_or(out.sample_guidance);
  if (!(out.sample_guidance >= 0 && out.sample_guidance <= kMaxGuidance)) {
    t.fail("sample_guidance", "must be within [0, " + shortest_decimal(kMaxGuidance) + "]");
  }
  t.finish();
}

// Mismatches between the blocks that upstream would only hit as a shape
// error in the first forward pass.
void check_consistency(const Reader& reader, const LdmConfig& config) {
  const std::string unet_params = "model.params.unet_config.params";
  if (config.unet && config.cond_stage && config.unet->use_spatial_transformer &&
      config.unet->context_dim != config.cond_stage->text.hidden_size) {
    reader.fail(unet_params + ".context_dim", "is " + std::to_string(config.unet->context_dim) + " but " +
                                                  config.cond_stage->version + " gives a context of width " +
                                                  std::to_string(config.cond_stage->text.hidden_size));
  }
  // With cross-attention (or none) the UNet denoises the latent itself;
  // concat and hybrid add the conditioning's channels to its input.
  const std::string& key = config.diffusion.conditioning_key;
  if (config.unet && config.first_stage && (key == "crossattn" || key.empty())) {
    const int64_t latent = config.first_stage->embed_dim;
    if (config.unet->in_channels != latent) {
      reader.fail(unet_params + ".in_channels", "is " + std::to_string(config.unet->in_channels) +
                                                    " but the first stage's latent has " + std::to_string(latent) +
                                                    " channels (embed_dim)");
    }
  }
  if (config.unet && config.first_stage && config.unet->out_channels != config.first_stage->embed_dim) {
    reader.fail(unet_params + ".out_channels",
                "is " + std::to_string(config.unet->out_channels) + " but the first stage's latent has " +
                    std::to_string(config.first_stage->embed_dim) + " channels (embed_dim)");
  }
}

}  // namespace

LdmConfig parse_ldm_config(const std::string& yaml_text, const std::string& name) {
  const Reader reader(name);
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    reader.fail("", std::string("invalid YAML: ") + e.what());
  }
  Block top(reader, root, "");
  Block model_block = top.req_block("model");
  LdmConfig config;
  if (std::optional<Block> training = top.opt_block("training")) read_training(*training, config.training);
  top.finish(kIgnoredRootKeys);
  const std::string target = model_block.req_string("target");
  Block params = model_block.req_block("params");
  if (target == kLatentDiffusion) {
    const double lr = model_block.opt_double("base_learning_rate").value_or(config.training.base_learning_rate);
    if (!(lr > 0 && lr <= kMaxLearningRate)) {
      model_block.fail("base_learning_rate", "must be within (0, " + shortest_decimal(kMaxLearningRate) + "]");
    }
    config.training.base_learning_rate = lr;
    config.training.use_ema = params.opt_bool("use_ema").value_or(config.training.use_ema);
    if (std::optional<Block> schedule = params.opt_block("scheduler_config")) {
      config.training.schedule = read_schedule(reader, *schedule);
    }
    read_latent_diffusion(params, config);
    if (!config.unet) params.fail("unet_config", "missing required key");
  } else if (const std::optional<model::AutoencoderKind> kind = first_stage_kind(target)) {
    config.first_stage = read_first_stage(params, *kind);
  } else {
    model_block.fail("target", "unknown target '" + target + "' (expected " + std::string(kLatentDiffusion) +
                                   " or one of " + first_stage_targets() + ")");
  }
  model_block.finish(kIgnoredFirstStageModelKeys);
  check_consistency(reader, config);
  return config;
}

LdmConfig read_ldm_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open the file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw Error(path + ": cannot read the file");
  return parse_ldm_config(text.str(), path);
}

}  // namespace tessera::config
