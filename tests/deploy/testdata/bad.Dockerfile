# Deliberately bad: dockerfile_test.sh checks that dockerfilelint reports these issues.
FROM debian
RUN apt-get update && apt-get install curl
EXPOSE 80:80
