/* Baseline: libyaml's event parser alone (no tree), three passes over one file.
 * Build and run: cc -O2 bench/yaml/libyaml_events.c -lyaml -o /tmp/libyaml_events && /tmp/libyaml_events FILE */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <yaml.h>

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s FILE\n", argv[0]); return 2; }
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 1; }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(n > 0 ? n : 1);
    if (fread(buf, 1, n, f) != (size_t)n) { perror("read"); return 1; }
    fclose(f);
    for (int pass = 0; pass < 3; pass++) {
        struct timespec a, b, ca, cb;
        clock_gettime(CLOCK_MONOTONIC, &a);
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ca);
        yaml_parser_t p;
        yaml_parser_initialize(&p);
        yaml_parser_set_input_string(&p, buf, n);
        yaml_event_t e;
        long events = 0;
        for (;;) {
            if (!yaml_parser_parse(&p, &e)) { printf("error: %s\n", p.problem); break; }
            int type = e.type;
            yaml_event_delete(&e);
            events++;
            if (type == YAML_STREAM_END_EVENT) break;
        }
        yaml_parser_delete(&p);
        clock_gettime(CLOCK_MONOTONIC, &b);
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cb);
        printf("%ld events  wall %.1f ms  cpu %.1f ms\n", events,
               (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6,
               (cb.tv_sec - ca.tv_sec) * 1e3 + (cb.tv_nsec - ca.tv_nsec) / 1e6);
    }
    free(buf);
    return 0;
}
