#define BOOST_TEST_DYN_LINK
#define BOOST_TEST_MODULE tether_unit
#include <boost/test/unit_test.hpp>
