// Errors of the C++ client: the same two kinds as iroko_gym.errors (ConfigError, RemoteError).
#pragma once

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

}  // namespace iroko
