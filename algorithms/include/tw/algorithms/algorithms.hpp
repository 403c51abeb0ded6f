#pragma once
// tw::algorithms: tuning and control procedures, all plain blocking functions.
#include <tw/algorithms/tuning.hpp>
