// Wire tensors <-> Tensor, and model updates (full or diff) applied to a snapshot, as
// iroko_gym/remote/protocol.py and snapshots.py do it (values replaced, never added).
#pragma once

#include <memory>
#include <string>

#include "iroko/policy.hpp"
#include "remote.pb.h"

namespace iroko {

namespace pb = ::iroko_gym::remote::v1;

// The tensor in `msg`, its dtype, shape and byte count checked; `field` names it in errors.
Tensor decode(const pb::Tensor& msg, const std::string& field);
// `count` values of `dtype` ("float32", "int64", "bool") with shape `shape` as a wire tensor.
void encode(pb::Tensor* out, const std::string& dtype, std::vector<int64_t> shape, const void* data,
            std::size_t bytes);

// The snapshot obtained by applying `msg` to `current` (null before the first model).
std::shared_ptr<const Snapshot> apply_update(const std::shared_ptr<const Snapshot>& current,
                                             const pb::ModelUpdate& msg);

}  // namespace iroko
