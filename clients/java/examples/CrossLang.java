// One side of the cross-language test (tests/e2e/test_cross_language.py), run as a
// single-file program on the client's class path:
//
//     java -cp CLIENT_CLASSPATH examples/CrossLang.java ADDRESS API_KEY
//
// Creates one one-time job for each worker language (handler "crosslang.<language>",
// payload {"origin": "java", "target": <language>}), prints a line per job, then works
// "crosslang.java" until it has run four executions, one created by each language, and
// stops gracefully. The Python, Go and TypeScript clients carry the same program.

import dev.cronstream.CronstreamClient;
import dev.cronstream.Job;
import dev.cronstream.Jobs;
import dev.cronstream.NonRetryableException;
import dev.cronstream.Worker;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

public class CrossLang {
  static final String LANGUAGE = "java";
  static final List<String> LANGUAGES = List.of("python", "go", "typescript", "java");
  // The test waits longer, so a hang fails here first.
  static final Duration DEADLINE = Duration.ofSeconds(120);

  record Greeting(String origin, String target) {}

  record Reply(String origin, String worker) {}

  public static void main(String[] args) throws Exception {
    if (args.length != 2) {
      throw new IllegalArgumentException("usage: CrossLang ADDRESS API_KEY");
    }
    try (CronstreamClient client = CronstreamClient.connect(args[0], args[1], false)) {
      for (String target : LANGUAGES) {
        Job job = client.createJob(Jobs.once(Instant.now().plusSeconds(1))
            .name("crosslang " + LANGUAGE + " to " + target)
            .handler("crosslang." + target)
            .payload(new Greeting(LANGUAGE, target)));
        System.out.println("created " + job.id() + " " + job.status() + " " + job.nextRun());
      }

      List<String> origins = new CopyOnWriteArrayList<>();
      Worker worker = Worker.builder(client).workerId("crosslang-" + LANGUAGE).build();
      worker.handler("crosslang." + LANGUAGE, Greeting.class, (run, in) -> {
        if (!in.target().equals(LANGUAGE)) {
          throw new NonRetryableException("meant for " + in.target());
        }
        origins.add(in.origin());
        System.out.println("worked " + run.executionId() + " from " + in.origin());
        if (origins.size() == LANGUAGES.size()) {
          worker.stop(); // the worker ends once this result is acknowledged
        }
        return new Reply(in.origin(), LANGUAGE);
      });
      worker.start();
      if (!worker.awaitTermination(DEADLINE)) {
        System.err.println("out of time after " + origins);
        System.exit(1);
      }
      worker.join(); // throws what ended the worker, if anything did
      System.out.println("done: " + origins.stream().sorted().toList());
    }
  }
}
