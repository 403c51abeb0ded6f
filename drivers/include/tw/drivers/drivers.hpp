#pragma once
// <tw/drivers/drivers.hpp>: every driver of tworoutine in one include.
#include <tw/drivers/checked.hpp>
#include <tw/drivers/command_log.hpp>
#include <tw/drivers/errors.hpp>
#include <tw/drivers/http.hpp>
#include <tw/drivers/jsonrpc/client.hpp>
#include <tw/drivers/modbus/client.hpp>
#include <tw/drivers/modbus/compressor.hpp>
#include <tw/drivers/scpi/client.hpp>
#include <tw/drivers/scpi/temperature_controller.hpp>
#include <tw/drivers/tcp_stream.hpp>
#include <tw/drivers/tuber/board.hpp>
#include <tw/drivers/tuber/client.hpp>
