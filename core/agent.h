/* agent.h - `gearbox agent`: runs the attempts a controller sends it over
 * stdin/stdout (proto.h), and dies with its controller. See agent.c. */
#ifndef GBX_AGENT_H
#define GBX_AGENT_H

/* The whole command: argv[0] is "agent". Returns the exit status (0 when the
 * controller said bye or closed stdin; 2 on a protocol error). */
int agent_main(int argc, char **argv);

#endif
