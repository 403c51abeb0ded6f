#pragma once
// <tw/tw.hpp>: everything of tworoutine's runtime in one include.
#include <tw/deadline.hpp>
#include <tw/duration.hpp>
#include <tw/errors.hpp>
#include <tw/fan_out.hpp>
#include <tw/offload.hpp>
#include <tw/sync.hpp>
#include <tw/run.hpp>
#include <tw/runtime.hpp>
#include <tw/task.hpp>
#include <tw/yield.hpp>
