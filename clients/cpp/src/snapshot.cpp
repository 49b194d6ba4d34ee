#include "snapshot.hpp"

#include <cstring>

#include "iroko/errors.hpp"

namespace iroko {
namespace {

std::size_t dtype_size(const std::string& dtype) {
  if (dtype == "float32" || dtype == "int32") return 4;
  if (dtype == "float64" || dtype == "int64") return 8;
  if (dtype == "bool") return 1;
  return 0;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + (shape.size() == 1 ? ",)" : ")");
}

}  // namespace

std::size_t Tensor::itemsize() const { return dtype_size(dtype); }

std::size_t Tensor::elements() const {
  std::size_t n = 1;
  for (int64_t d : shape) n *= static_cast<std::size_t>(d);
  return n;
}

std::vector<float> Tensor::as_float() const {
  std::vector<float> out(elements());
  if (dtype == "float32") {
    std::memcpy(out.data(), data.data(), out.size() * sizeof(float));
  } else if (dtype == "float64") {
    for (std::size_t i = 0; i < out.size(); ++i) {
      double x;
      std::memcpy(&x, data.data() + 8 * i, 8);
      out[i] = static_cast<float>(x);
    }
  } else {
    throw RemoteError("tensor of dtype " + dtype + " where float32 is expected");
  }
  return out;
}

std::vector<double> Tensor::as_double() const {
  std::vector<double> out(elements());
  if (dtype == "float64") {
    std::memcpy(out.data(), data.data(), out.size() * sizeof(double));
  } else {
    std::vector<float> f = as_float();
    out.assign(f.begin(), f.end());
  }
  return out;
}

Tensor decode(const pb::Tensor& msg, const std::string& field) {
  Tensor t;
  t.dtype = msg.dtype();
  std::size_t item = dtype_size(t.dtype);
  if (item == 0) {
    throw RemoteError(field + ": unknown dtype '" + t.dtype +
                      "'; use one of ['bool', 'float32', 'float64', 'int32', 'int64']");
  }
  unsigned __int128 expected = item;
  for (int64_t d : msg.shape()) {
    if (d < 0) throw RemoteError(field + ": negative dimension in shape");
    t.shape.push_back(d);
    expected *= static_cast<uint64_t>(d);
  }
  if (expected != msg.data().size()) {
    throw RemoteError(field + ": " + std::to_string(msg.data().size()) + " data bytes for shape " +
                      shape_text(t.shape) + " " + t.dtype);
  }
  t.data = msg.data();  // wire order is little-endian, as is this client's host (x86/arm64)
  return t;
}

void encode(pb::Tensor* out, const std::string& dtype, std::vector<int64_t> shape, const void* data,
            std::size_t bytes) {
  out->set_dtype(dtype);
  for (int64_t d : shape) out->add_shape(d);
  out->set_data(data, bytes);
}

std::shared_ptr<const Snapshot> apply_update(const std::shared_ptr<const Snapshot>& current,
                                             const pb::ModelUpdate& msg) {
  auto next = std::make_shared<Snapshot>();
  next->version = msg.version();
  for (const auto& [name, value] : msg.scalars()) next->scalars[name] = value;
  if (msg.full()) {
    for (const auto& [name, t] : msg.tensors()) next->tensors[name] = decode(t, "model." + name);
    return next;
  }
  if (!current || current->version != msg.base_version()) {
    throw RemoteError("diff to version " + std::to_string(msg.version()) + " is based on " +
                      std::to_string(msg.base_version()) + ", but the client holds " +
                      (current ? std::to_string(current->version) : std::string("None")));
  }
  next->tensors = current->tensors;
  for (const auto& [name, t] : msg.tensors()) next->tensors[name] = decode(t, "model." + name);
  for (const auto& [name, sparse] : msg.sparse()) {
    auto it = next->tensors.find(name);
    if (it == next->tensors.end()) {
      throw RemoteError("diff names tensor '" + name + "' that the client does not hold");
    }
    Tensor& target = it->second;
    Tensor indices = decode(sparse.indices(), "model." + name + ".indices");
    Tensor values = decode(sparse.values(), "model." + name + ".values");
    if (indices.dtype != "int64") {
      throw RemoteError("model." + name + ".indices: dtype " + indices.dtype + " where int64 is expected");
    }
    if (values.dtype != target.dtype) {
      throw RemoteError("model." + name + ".values: dtype " + values.dtype + " where " + target.dtype +
                        " is expected");
    }
    std::size_t count = indices.elements();
    if (values.elements() != count) {
      throw RemoteError("model." + name + ": " + std::to_string(count) + " indices but " +
                        std::to_string(values.elements()) + " values");
    }
    std::size_t item = target.itemsize(), size = target.elements();
    for (std::size_t i = 0; i < count; ++i) {
      int64_t index;
      std::memcpy(&index, indices.data.data() + 8 * i, 8);
      if (index < 0 || static_cast<std::size_t>(index) >= size) {
        throw RemoteError("model." + name + ".indices: " + std::to_string(index) +
                          " is outside a tensor of " + std::to_string(size) + " elements");
      }
      std::memcpy(&target.data[static_cast<std::size_t>(index) * item], values.data.data() + item * i, item);
    }
  }
  return next;
}

}  // namespace iroko
