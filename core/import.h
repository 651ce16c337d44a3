/* import.h - `gearbox import compdb|ninja`: a workload from a build's
 * compile database or ninja graph (see import.c). */
#ifndef GBX_IMPORT_H
#define GBX_IMPORT_H

/* argv[0] is "import"; returns the exit status (0, or 2 with a message). */
int import_main(int argc, char **argv);

#endif
