#include "cli/app.hpp"

int main(int argc, char** argv) { return ba::cli::run(argc, argv); }
