/* Task `command {argv: [...], env: {...}, cwd: DIR}`: runs a program with
 * posix_spawnp (no shell, so nothing in argv is interpreted), with the
 * step's environment plus `env`, in `cwd` (relative to the step's working
 * directory). Its stdout and stderr are the worker's, which the executor
 * stores line by line as events. Exit code 0 succeeds; anything else fails
 * the step with the code or the signal in the error. On cancel the program
 * is in the step's process group, so it gets the SIGTERM itself; we wait. */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <dagd/task.h>

extern char **environ;

static const struct dagd_host_api *host;

static const struct dagd_task_field schema[] = {
    {.name = "argv",
     .type = DAGD_FIELD_STRING_LIST,
     .required = true,
     .doc = "program and arguments; the program is looked up in PATH"},
    {.name = "env", .type = DAGD_FIELD_STRING_MAP, .doc = "environment variables to set"},
    {.name = "cwd", .type = DAGD_FIELD_STRING, .doc = "working directory of the program"},
    {0},
};

static int command_validate(struct dagd_task_ctx *ctx)
{
    if (host->config_list_len(ctx, "argv") == 0) {
        return host->fail(ctx, "argv", "argv must name a program");
    }
    for (size_t i = 0; i < host->config_map_len(ctx, "env"); i++) {
        const char *k = host->config_map_key(ctx, "env", i);
        if (!k || !*k || strchr(k, '=')) {
            return host->fail(ctx, "env", "bad environment variable name '%s'", k ? k : "");
        }
    }
    return 0;
}

/* environ with `env` entries replacing or adding variables. */
static char **build_env(struct dagd_task_ctx *ctx)
{
    size_t n_env = 0, n_set = host->config_map_len(ctx, "env");
    while (environ[n_env]) {
        n_env++;
    }
    char **out = calloc(n_env + n_set + 1, sizeof(char *));
    if (!out) {
        return NULL;
    }
    size_t n = 0;
    for (size_t i = 0; i < n_env; i++) {
        bool overridden = false;
        for (size_t j = 0; j < n_set && !overridden; j++) {
            const char *k = host->config_map_key(ctx, "env", j);
            size_t kl = strlen(k);
            overridden = strncmp(environ[i], k, kl) == 0 && environ[i][kl] == '=';
        }
        if (!overridden) {
            out[n++] = environ[i];
        }
    }
    for (size_t j = 0; j < n_set; j++) {
        const char *k = host->config_map_key(ctx, "env", j);
        const char *v = host->config_map_value(ctx, "env", j);
        size_t len = strlen(k) + strlen(v ? v : "") + 2;
        char *kv = malloc(len);
        if (!kv) {
            return NULL;
        }
        snprintf(kv, len, "%s=%s", k, v ? v : "");
        out[n++] = kv; /* the worker process ends soon: not worth freeing */
    }
    out[n] = NULL;
    return out;
}

static int command_run(struct dagd_task_ctx *ctx)
{
    size_t argc = host->config_list_len(ctx, "argv");
    const char *cwd = host->config_string(ctx, "cwd", NULL);
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int status, r;

    if (argc == 0) {
        return host->fail(ctx, NULL, "argv is empty");
    }
    char **argv = calloc(argc + 1, sizeof(char *));
    char **envp = build_env(ctx);
    if (!argv || !envp) {
        return host->fail(ctx, NULL, "out of memory");
    }
    for (size_t i = 0; i < argc; i++) {
        argv[i] = (char *)host->config_list_item(ctx, "argv", i);
    }
    posix_spawn_file_actions_init(&fa);
    if (cwd && *cwd) {
        /* glibc >= 2.29 */
        posix_spawn_file_actions_addchdir_np(&fa, cwd);
    }
    fflush(NULL);
    r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    if (r != 0) {
        return host->fail(ctx, NULL, "cannot run '%s'%s%s: %s", argv[0], cwd ? " in " : "",
                          cwd ? cwd : "", strerror(r));
    }
    for (;;) {
        if (waitpid(pid, &status, 0) >= 0) {
            break;
        }
        if (errno != EINTR) {
            return host->fail(ctx, NULL, "waitpid: %s", strerror(errno));
        }
        /* EINTR: our SIGTERM handler ran; the program got the same signal
         * (same process group), so keep waiting for it to end. */
    }
    if (WIFEXITED(status)) {
        int code = WEXITSTATUS(status);
        if (code == 0) {
            return 0;
        }
        return host->fail(ctx, NULL, "'%s' exited with code %d", argv[0], code);
    }
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        const char *abbrev = sigabbrev_np(sig);
        return host->fail(ctx, NULL, "'%s' was killed by signal %s%s", argv[0], abbrev ? "SIG" : "",
                          abbrev ? abbrev : "?");
    }
    return host->fail(ctx, NULL, "'%s' ended strangely (status %d)", argv[0], status);
}

/* clang-format off */
static const struct dagd_task_plugin plugin = {
    DAGD_TASK_PLUGIN_HEADER,
    .name = "command",
    .version = "1",
    .description = "runs a program (argv list, no shell) with extra env in cwd",
    .schema = schema,
    .validate = command_validate,
    .run = command_run,
};
/* clang-format on */

DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api);
DAGD_TASK_EXPORT const struct dagd_task_plugin *dagd_task_entry(const struct dagd_host_api *api)
{
    host = api;
    return &plugin;
}
