#pragma once

// The keys of the `meta` column family, private to store/: written by Store
// and read back by its merge.

namespace tessera::store {

inline constexpr const char* kSchemaVersionKey = "schema_version";
inline constexpr const char* kModelKeyPrefix = "models/";
inline constexpr const char* kVocabularyKey = "vocabulary";

}  // namespace tessera::store
