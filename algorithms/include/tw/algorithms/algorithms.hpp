#pragma once
// tw::algorithms: tuning and control procedures, all plain blocking functions.
#include <tw/algorithms/cooldown.hpp>
#include <tw/algorithms/defaults.hpp>
#include <tw/algorithms/health.hpp>
#include <tw/algorithms/registry.hpp>
#include <tw/algorithms/to_json.hpp>
#include <tw/algorithms/tuning.hpp>
