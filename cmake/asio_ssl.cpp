// Boost.Asio's TLS support compiled once (see asio_beast.cpp). Its own object in the static
// library divan_asio, so only a program that uses boost/asio/ssl pulls it (and libssl) in.
#include <boost/asio/ssl/impl/src.hpp>
