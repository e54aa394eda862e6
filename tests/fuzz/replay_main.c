/* Corpus replay for every fuzz target (no libFuzzer needed): runs
 * LLVMFuzzerTestOneInput on every file of the directories or files given,
 * so the committed corpora run as ordinary `suite : 'fuzz'` tests under the
 * normal and the sanitizer builds. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0, n;

    if (!f) {
        perror(path);
        return -1;
    }
    do {
        if (len == cap) {
            cap = cap ? cap * 2 : 65536;
            buf = realloc(buf, cap);
            if (!buf) {
                abort();
            }
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    fclose(f);
    (void)LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    unsigned files = 0;

    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            perror(argv[i]);
            return 1;
        }
        if (S_ISDIR(st.st_mode)) {
            struct dirent **ents;
            int n = scandir(argv[i], &ents, NULL, alphasort);
            if (n < 0) {
                perror(argv[i]);
                return 1;
            }
            for (int k = 0; k < n; k++) {
                char p[4096];
                if (ents[k]->d_name[0] != '.') {
                    snprintf(p, sizeof(p), "%s/%s", argv[i], ents[k]->d_name);
                    if (replay_file(p) < 0) {
                        return 1;
                    }
                    files++;
                }
                free(ents[k]);
            }
            free(ents);
        } else {
            if (replay_file(argv[i]) < 0) {
                return 1;
            }
            files++;
        }
    }
    printf("replayed %u inputs\n", files);
    return files > 0 ? 0 : 1;
}
