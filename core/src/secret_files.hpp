// Internal: the one writer of files that hold secrets (identity key files, session ticket keys).
// Its reader is public: read_secret_file() in identity.hpp (owner-only mode, regular file, no
// symlink, bounded size).
#pragma once

#include <filesystem>
#include <string_view>

#include "handshake/result.hpp"

namespace handshake {

// Writes `body` to `path` with mode 0600 (whatever the umask), fsynced. Refuses to replace an
// existing file unless `overwrite` (then it is replaced atomically through a temporary file next
// to it). Never follows a symlink at `path`. The caller owns (and wipes) `body`.
// Errors: kIo "keyfile.exists", kIo "keyfile.write".
[[nodiscard]] Status write_secret_file(const std::filesystem::path& path, std::string_view body, bool overwrite);

}  // namespace handshake
