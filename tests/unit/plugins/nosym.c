/* A shared object that is not a task plugin: no dagd_task_entry. */
int dagd_not_a_task(void);
__attribute__((visibility("default"))) int dagd_not_a_task(void)
{
    return 42;
}
