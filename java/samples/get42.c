/* The Java samples' executable dependency: exits with status 42. */
int main(void)
{
    return 42;
}
