// txguard CLI (being written; subcommands wire the libraries together).
#include <cstdio>
int main() { std::puts("txguard"); return 0; }
