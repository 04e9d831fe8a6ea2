// Boost.Asio and Boost.Beast compiled once for the whole program (cmake/divan_build.cmake defines
// BOOST_ASIO_SEPARATE_COMPILATION and BOOST_BEAST_SEPARATE_COMPILATION for every target), instead
// of their non-template code being compiled again in every translation unit that includes them.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
