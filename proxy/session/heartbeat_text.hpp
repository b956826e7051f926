#pragma once
// Texts tether sends on its own (app heartbeats, answers) may carry the
// current time: {{now_ms}} becomes Unix time in milliseconds.
#include <string>
#include <string_view>

namespace tether {

std::string expand_now_ms(std::string_view templ);

}  // namespace tether
