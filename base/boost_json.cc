// base/boost_json.cc: Boost.JSON's definitions, compiled once for the whole
// program. Boost.JSON is not header-only: its src.hpp must be included in
// exactly one translation unit of a binary (two copies would clash at link
// time), so this is that one; every other file includes <boost/json.hpp>.
#include <boost/json/src.hpp>
