// Errors of the C++ client: the same two kinds as iroko_gym.errors (ConfigError, RemoteError).
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

namespace iroko {

// Base class of every error the client raises on purpose.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A config field, an observation, a mask or an argument has a bad value (names it and the fix).
class ConfigError : public Error {
 public:
  using Error::Error;
};

// The server, the connection or a message from the server failed.
class RemoteError : public Error {
 public:
  using Error::Error;
};

// A value the client would send is not finite or beyond kMaxMagnitude (iroko_gym's
// MalformedMessage): refused where it enters, not discovered later by the server.
class MalformedMessage : public RemoteError {
 public:
  using RemoteError::RemoteError;
};

// Observations, rewards, box actions and log-probabilities beyond this magnitude are refused
// (iroko_gym.remote.protocol.MAX_MAGNITUDE).
inline constexpr double kMaxMagnitude = 1e9;

// Throws MalformedMessage naming `field` and the first value that is not finite or is beyond
// kMaxMagnitude.
void check_values(const std::string& field, const float* values, std::size_t n);
void check_value(const std::string& field, double value);

}  // namespace iroko
