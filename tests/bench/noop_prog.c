/* The no-op program tests/bench/overhead spawns for its floor. */
int main(void)
{
    return 0;
}
