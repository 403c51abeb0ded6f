#pragma once
// <tw/tw.hpp>: everything of tworoutine's runtime in one include.
#include <tw/deadline.hpp>
#include <tw/errors.hpp>
#include <tw/run.hpp>
#include <tw/runtime.hpp>
#include <tw/task.hpp>
#include <tw/yield.hpp>
