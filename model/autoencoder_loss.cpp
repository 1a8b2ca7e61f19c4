#include "model/autoencoder_loss.h"

#include <torch/torch.h>

#include <stdexcept>

#include "model/autoencoder.h"
#include "model/lpips.h"

namespace tessera::model {

torch::Tensor vq_codebook_loss(const torch::Tensor& h, const torch::Tensor& e, double beta, bool legacy) {
  if (h.sizes() != e.sizes()) throw std::invalid_argument("vq_codebook_loss: h and e differ in shape");
  const torch::Tensor commitment = torch::mean((e.detach() - h).pow(2));  // moves the encoder towards the codes
  const torch::Tensor codebook = torch::mean((e - h.detach()).pow(2));    // moves the codes towards the encoder
  return legacy ? commitment + beta * codebook : beta * commitment + codebook;
}

torch::Tensor kl_divergence(const DiagonalGaussian& posterior) {
  std::vector<int64_t> dims;
  for (int64_t d = 1; d < posterior.mean.dim(); ++d) dims.push_back(d);
  return 0.5 * torch::sum(posterior.mean.pow(2) + torch::exp(posterior.logvar) - 1.0 - posterior.logvar, dims);
}

AutoencoderLoss autoencoder_loss(Autoencoder& model, const torch::Tensor& x, Lpips* perceptual,
                                 const AutoencoderLossOptions& options, at::Generator& generator) {
  if (x.dim() != 4 || x.size(1) != model.config().in_channels) {
    throw std::invalid_argument("autoencoder_loss: images must be (B, " + std::to_string(model.config().in_channels) +
                                ", H, W)");
  }
  const bool vq = model.config().kind == AutoencoderKind::kVq;
  const int64_t batch = x.size(0);
  torch::Tensor reconstruction;
  torch::Tensor regulariser;
  if (vq) {
    const torch::Tensor h = model.encode_moments(x);
    const QuantizedLatent quantized = model.quantize(h);
    const torch::Tensor e = model.codebook_lookup(quantized.indices);
    regulariser = vq_codebook_loss(h, e, options.beta, options.legacy);
    reconstruction = model.decode_unquantized(quantized.quantized);
  } else {
    const DiagonalGaussian posterior = model.encode_posterior(x);
    const torch::Tensor noise =
        torch::randn(posterior.mean.sizes(), generator, torch::TensorOptions().dtype(torch::kFloat32))
            .to(posterior.mean.device(), posterior.mean.scalar_type());
    regulariser = torch::sum(kl_divergence(posterior)) / double(batch);
    reconstruction = model.decode_unquantized(posterior.sample(noise));
  }

  torch::Tensor pixel_loss = torch::abs(x - reconstruction);
  const torch::Tensor rec = pixel_loss.detach().mean();
  torch::Tensor perceptual_mean = torch::zeros({}, rec.options());
  if (perceptual != nullptr) {
    const torch::Tensor distance = perceptual->forward(x, reconstruction);  // (B, 1, 1, 1)
    perceptual_mean = distance.detach().mean();
    pixel_loss = pixel_loss + options.perceptual_weight * distance;
  }

  AutoencoderLoss loss;
  if (vq) {
    loss.total = pixel_loss.mean() + options.codebook_weight * regulariser;
  } else {
    loss.total = pixel_loss.sum() / double(batch) + options.kl_weight * regulariser;
  }
  loss.rec = rec;
  loss.regulariser = regulariser.detach();
  loss.perceptual = perceptual_mean;
  loss.reconstruction = reconstruction.detach();
  return loss;
}

}  // namespace tessera::model
