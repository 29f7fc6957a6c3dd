#include <cstdio>
int main() { std::puts("descent"); return 0; }
